"""`stepline schedule ...`: schedules that start runs of a workflow on a cron
expression or an interval."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

import typer

from stepline import payloads
from stepline._schedules import CATCH_UPS, OVERLAPS, CatchUp, Overlap
from stepline.client import RunnerClient, Schedule
from stepline.v1 import runner_pb2

from . import output
from .context import call, usage_error
from .inputs import json_argument
from .output import Column, JsonOption

app = typer.Typer(
    help="Schedules: start runs of a workflow on a cron expression or an interval.",
    no_args_is_help=True,
)

ScheduleArg = Annotated[str, typer.Argument(help="The schedule's id.", show_default=False)]
_DURATION = re.compile(r"^(\d{1,9}(?:\.\d{1,9})?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str, option: str) -> timedelta:
    """'90s', '5m', '1.5h', '1d' as a timedelta; anything else is a usage error."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        usage_error(f"{option}: {text[:40]!r} is not a duration such as 30s, 5m, 2h or 1d")
    return timedelta(seconds=float(match[1]) * _UNITS[match[2]])


def _trigger(schedule: Schedule) -> str:
    spec = schedule.spec
    if spec.WhichOneof("trigger") == "cron":
        zone = f" ({spec.time_zone})" if spec.time_zone else ""
        return f"cron {spec.cron}{zone}"
    return f"every {spec.interval.seconds}s"


def _state(schedule: Schedule) -> str:
    return "paused" if schedule.paused else "active"


SCHEDULE_COLUMNS = [
    Column("SCHEDULE", lambda s: s.spec.schedule_id),
    Column("WORKFLOW", lambda s: s.spec.workflow_id),
    Column("WHEN", _trigger),
    Column("STATE", _state),
    Column("NEXT", lambda s: "" if s.paused else output.timestamp_text(s.next_fire_time)),
    Column("LAST RUN", lambda s: s.last_run_id),
    Column("RUNS", lambda s: str(s.runs_started)),
    Column("SKIPPED", lambda s: str(s.fires_skipped)),
]


def print_schedule(schedule: Schedule, as_json: bool) -> None:
    if as_json:
        output.print_json(output.message_json(schedule))
        return
    spec = schedule.spec
    overlap = runner_pb2.ScheduleOverlap.Name(spec.overlap or runner_pb2.SCHEDULE_OVERLAP_SKIP)
    catch_up = runner_pb2.ScheduleCatchUp.Name(spec.catch_up or runner_pb2.SCHEDULE_CATCH_UP_NONE)
    fields = [
        ("schedule", spec.schedule_id),
        ("workflow", spec.workflow_id),
        ("when", _trigger(schedule)),
        ("state", _state(schedule)),
        ("input", output.payload_text(spec.input)),
        ("jitter", f"{spec.jitter.ToTimedelta().total_seconds():g}s"),
        ("overlap", output.enum_text(overlap, "SCHEDULE_OVERLAP_")),
        ("catch-up", output.enum_text(catch_up, "SCHEDULE_CATCH_UP_")),
        ("next fire", "" if schedule.paused else output.timestamp_text(schedule.next_fire_time)),
        ("last fire", output.timestamp_text(schedule.last_fire_time)),
        ("last run", schedule.last_run_id),
        ("runs started", str(schedule.runs_started)),
        ("fires skipped", str(schedule.fires_skipped)),
    ]
    if schedule.last_skip_reason:
        fields.append(("last skipped because", schedule.last_skip_reason))
    output.print_fields(fields)


@app.command("create")
def create(
    ctx: typer.Context,
    schedule_id: ScheduleArg,
    workflow: Annotated[str, typer.Option("--workflow", "-w", help="The workflow to run.")],
    input_: Annotated[
        str, typer.Option("--input", "-i", help="The input: JSON, or @FILE holding it (@- stdin).")
    ],
    cron: Annotated[
        str, typer.Option("--cron", help="Five fields (minute hour day month weekday) or @daily.")
    ] = "",
    every: Annotated[
        str, typer.Option("--every", help="An interval instead: 30s, 5m, 2h, 1d.")
    ] = "",
    time_zone: Annotated[
        str, typer.Option("--time-zone", help="The cron expression's zone (default UTC).")
    ] = "",
    jitter: Annotated[
        str, typer.Option("--jitter", help="Start each run up to this much late: 10s, 5m.")
    ] = "",
    overlap: Annotated[
        str, typer.Option("--overlap", help="While the last run goes on: skip, queue or allow.")
    ] = "skip",
    catch_up: Annotated[
        str, typer.Option("--catch-up", help="Missed fire times after downtime: none or one.")
    ] = "none",
    type_name: Annotated[
        str, typer.Option("--type", help="The input's payload type name (default: from the JSON).")
    ] = "",
    paused: Annotated[bool, typer.Option("--paused", help="Create it paused.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Create a schedule that starts runs of a workflow with an input."""
    if bool(cron) == bool(every):
        usage_error("give one of --cron and --every")
    if overlap not in OVERLAPS:
        usage_error(f"--overlap: one of {', '.join(OVERLAPS)}, not {overlap[:20]!r}")
    if catch_up not in CATCH_UPS:
        usage_error(f"--catch-up: one of {', '.join(CATCH_UPS)}, not {catch_up[:20]!r}")
    payload = payloads.encode(json_argument(input_, "--input"), type_name or None)
    interval = duration(every, "--every") if every else None
    delay = duration(jitter, "--jitter") if jitter else None
    chosen_overlap: Overlap = overlap  # type: ignore[assignment]  # checked above
    chosen_catch_up: CatchUp = catch_up  # type: ignore[assignment]

    async def go(client: RunnerClient) -> Schedule:
        return await client.create_schedule(
            schedule_id,
            workflow,
            payload,
            cron=cron,
            interval=interval,
            time_zone=time_zone,
            jitter=delay,
            overlap=chosen_overlap,
            catch_up=chosen_catch_up,
            paused=paused,
        )

    print_schedule(call(ctx, go), as_json)


@app.command("list")
def list_(
    ctx: typer.Context,
    workflow: Annotated[str, typer.Option("--workflow", "-w", help="Only this workflow's.")] = "",
    as_json: JsonOption = False,
) -> None:
    """List schedules, oldest first."""

    async def schedules(client: RunnerClient) -> list[Schedule]:
        return [s async for s in client.list_schedules(workflow)]

    output.print_records(call(ctx, schedules), SCHEDULE_COLUMNS, as_json)


@app.command("get")
def get(ctx: typer.Context, schedule_id: ScheduleArg, as_json: JsonOption = False) -> None:
    """Show a schedule: what it runs, when, and how it went so far."""
    print_schedule(call(ctx, lambda c: c.get_schedule(schedule_id)), as_json)


@app.command("pause")
def pause(ctx: typer.Context, schedule_id: ScheduleArg, as_json: JsonOption = False) -> None:
    """Start nothing until it is resumed."""
    print_schedule(call(ctx, lambda c: c.pause_schedule(schedule_id)), as_json)


@app.command("resume")
def resume(ctx: typer.Context, schedule_id: ScheduleArg, as_json: JsonOption = False) -> None:
    """Go on from the next fire time after now."""
    print_schedule(call(ctx, lambda c: c.resume_schedule(schedule_id)), as_json)


@app.command("delete")
def delete(ctx: typer.Context, schedule_id: ScheduleArg) -> None:
    """Delete a schedule; the runs it started stay."""
    call(ctx, lambda c: c.delete_schedule(schedule_id))
    output.print_text(f"deleted schedule {schedule_id}")
