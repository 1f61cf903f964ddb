"""`stepline run ...`: start, list, inspect, follow and control runs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from stepline import payloads
from stepline.client import Event, Run, RunnerClient
from stepline.v1 import events_pb2, payload_pb2

from . import output
from .context import call, usage_error
from .events_view import event_line, status_text
from .inputs import event_kind, json_argument, moment, outcome_code, run_status
from .output import Column, JsonOption
from .watch import watch_run

# Statuses in which a run may hold timers and nothing drives it.
WAITING = (
    events_pb2.RUN_STATUS_WAITING_FOR_TIMERS,
    events_pb2.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS,
)

E = events_pb2

app = typer.Typer(help="Start, list, inspect, follow and control runs.", no_args_is_help=True)

RunArg = Annotated[str, typer.Argument(help="The run's id.", show_default=False)]
ReconnectOption = Annotated[
    float,
    typer.Option("--reconnect-timeout", min=0, help="Seconds to wait for a runner that went away."),
]


def status_style(text: str) -> str:
    if text == "COMPLETED":
        return "green"
    if text in ("FAILED", "CANCELLED"):
        return "red"
    return "yellow" if "PENDING" in text or text == "QUEUED" else "cyan"


RUN_COLUMNS = [
    Column("RUN", lambda r: r.run_id),
    Column("WORKFLOW", lambda r: r.workflow_id),
    Column("STATUS", lambda r: status_text(r.status), status_style),
    Column("STEP", lambda r: str(r.superstep)),
    Column("CREATED", lambda r: output.timestamp_text(r.created_at)),
    Column("UPDATED", lambda r: output.timestamp_text(r.updated_at)),
]


def run_fields(run: Run) -> list[tuple[str, str]]:
    """A run's fields for `run get`, the unset ones left out."""
    fields = [
        ("run", run.run_id),
        ("workflow", run.workflow_id),
        ("status", status_text(run.status)),
        ("superstep", str(run.superstep)),
        ("latest checkpoint", run.latest_checkpoint_id),
        ("parent run", run.parent_run_id),
        ("parent checkpoint", run.parent_checkpoint_id),
        ("last event", str(run.last_sequence)),
        ("created", output.timestamp_text(run.created_at)),
        ("updated", output.timestamp_text(run.updated_at)),
        ("graph signature", run.graph_signature),
    ]
    if run.HasField("error") and (run.error.type or run.error.message):
        fields.append(("error", f"{run.error.type}: {run.error.message}".strip(": ")))
        fields.append(("failed executor", run.error.executor_id))
    return [(name, value) for name, value in fields if value]


def print_run(run: Run, as_json: bool) -> None:
    if as_json:
        output.print_json(output.message_json(run))
    else:
        output.print_fields(run_fields(run))


@app.command("start")
def start(
    ctx: typer.Context,
    workflow: Annotated[str, typer.Argument(help="The registered workflow's id.")],
    input_: Annotated[
        str, typer.Option("--input", "-i", help="The input: JSON, or @FILE holding it (@- stdin).")
    ],
    type_name: Annotated[
        str, typer.Option("--type", help="Its payload type name (default: from the JSON).")
    ] = "",
    run_id: Annotated[str, typer.Option("--run-id", help="An id for the run (idempotent).")] = "",
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the run's end.")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Watch it live to its end.")] = False,
    reconnect_timeout: ReconnectOption = 60.0,
    as_json: JsonOption = False,
) -> None:
    """Start a run of WORKFLOW; with --wait or --watch, exit with its outcome."""
    if wait and watch:
        usage_error("--wait and --watch go one at a time")
    payload = payloads.encode(json_argument(input_, "--input"), type_name or None)

    async def go(client: RunnerClient) -> Run:
        run = await client.start_run(workflow, payload, run_id=run_id)
        if watch:
            return await watch_run(client, run.run_id, as_json, reconnect_timeout)
        if wait:
            return await settle(client, run.run_id, as_json)
        return run

    run = call(ctx, go)
    if not (wait or watch):
        print_run(run, as_json)
    raise typer.Exit(outcome_code(run.status))


@app.command("get")
def get(ctx: typer.Context, run_id: RunArg, as_json: JsonOption = False) -> None:
    """Show a run: status, superstep, latest checkpoint, error, timers."""

    async def fetch(client: RunnerClient) -> tuple[Run, list[payload_pb2.Message]]:
        run = await client.get_run(run_id)
        if run.status not in WAITING:
            return run, []
        checkpoint = await client.get_checkpoint(run.latest_checkpoint_id, include_content=True)
        return run, list(checkpoint.content.timers)

    run, timers = call(ctx, fetch)
    if as_json:
        print_run(run, as_json)
    else:
        output.print_fields(run_fields(run) + timer_fields(timers))


def timer_fields(timers: list[payload_pb2.Message]) -> list[tuple[str, str]]:
    """How many timers a waiting run has, and when the first is due."""
    if not timers:
        return []
    first = output.timestamp_text(timers[0].deliver_at)
    return [("timers", f"{len(timers)}, the first due at {first}")]


@app.command("list")
def list_(
    ctx: typer.Context,
    workflow: Annotated[
        str, typer.Option("--workflow", "-w", help="Only this workflow's runs.")
    ] = "",
    status: Annotated[
        list[str] | None,
        typer.Option("--status", "-s", help="Only runs in this status (repeatable)."),
    ] = None,
    since: Annotated[
        str, typer.Option("--since", help="Started at or after: ISO 8601 time, or an age (2h).")
    ] = "",
    until: Annotated[
        str, typer.Option("--until", help="Started before: ISO 8601 time, or an age.")
    ] = "",
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List runs, newest first."""
    statuses = [run_status(s) for s in status or []]
    after: datetime | None = moment(since, "--since") if since else None
    before: datetime | None = moment(until, "--until") if until else None

    async def runs(client: RunnerClient) -> list[Run]:
        found: list[Run] = []
        listing = client.list_runs(
            workflow,
            page_size=min(limit, 1000),
            statuses=statuses,
            created_after=after,
            created_before=before,
        )
        async for run in listing:
            found.append(run)
            if len(found) >= limit:
                break
        return found

    found = call(ctx, runs)
    output.print_records(found, RUN_COLUMNS, as_json)


async def settle(client: RunnerClient, run_id: str, as_json: bool) -> Run:
    """Wait until the run ends or waits for input; print it and its outputs."""
    outputs: list[Event] = []
    run = await client.get_run(run_id)
    async for event in client.watch(run_id):
        if event.kind == E.EVENT_KIND_OUTPUT:
            outputs.append(event)
        if event.status == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS:
            run = await client.get_run(run_id)
            if run.last_sequence == event.sequence:
                break  # it waits for input now, not only once in its past
    else:
        run = await client.get_run(run_id)
    if as_json:
        document: dict[str, Any] = {
            "run": output.message_json(run),
            "outputs": [output.payload_json(e.data) for e in outputs],
        }
        output.print_json(document)
    else:
        output.print_fields(run_fields(run))
        for event in outputs:
            output.print_text(f"output: {output.payload_text(event.data, 200)}")
    return run


@app.command("wait")
def wait(ctx: typer.Context, run_id: RunArg, as_json: JsonOption = False) -> None:
    """Wait until the run ends (or waits for input); exit 1 if it failed or was cancelled."""
    run = call(ctx, lambda c: settle(c, run_id, as_json))
    raise typer.Exit(outcome_code(run.status))


@app.command("watch")
def watch(
    ctx: typer.Context,
    run_id: RunArg,
    reconnect_timeout: ReconnectOption = 60.0,
    as_json: JsonOption = False,
) -> None:
    """Watch a run live to its end (--json: its events as JSON Lines); exit with its outcome."""
    run = call(ctx, lambda c: watch_run(c, run_id, as_json, reconnect_timeout))
    raise typer.Exit(outcome_code(run.status))


@app.command("events")
def events(
    ctx: typer.Context,
    run_id: RunArg,
    after: Annotated[int, typer.Option("--after", min=0, help="After this sequence.")] = 0,
    kind: Annotated[
        list[str] | None, typer.Option("--kind", "-k", help="Only this kind (repeatable).")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Go on with live events until the run ends.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Print a run's events (--json: JSON Lines)."""
    kinds = {event_kind(k) for k in kind or []}

    def show(event: Event) -> None:
        if kinds and event.kind not in kinds:
            return
        if as_json:
            output.print_json_line(output.message_json(event))
        else:
            output.print_text(event_line(event))

    async def go(client: RunnerClient) -> None:
        if follow:
            async for event in client.watch(run_id, after=after, kinds=kinds):
                show(event)
            return
        # What is stored now: up to the run's last event, of every kind, so
        # the end is seen even when the last event is filtered out.
        last = (await client.get_run(run_id)).last_sequence
        if last <= after:
            return
        async for event in client.watch(run_id, after=after, follow_after_end=True):
            show(event)
            if event.sequence >= last:
                return

    call(ctx, go)


@app.command("cancel")
def cancel(ctx: typer.Context, run_id: RunArg, as_json: JsonOption = False) -> None:
    """Stop a run at once; its latest checkpoint stays resumable."""
    print_run(call(ctx, lambda c: c.cancel_run(run_id)), as_json)


@app.command("resume")
def resume(
    ctx: typer.Context,
    checkpoint_id: Annotated[str, typer.Argument(help="The checkpoint to go on from.")],
    fork: Annotated[
        bool, typer.Option("--fork", help="Start a new run even from a run's latest checkpoint.")
    ] = False,
    new_run_id: Annotated[str, typer.Option("--run-id", help="The new run's id (a fork).")] = "",
    as_json: JsonOption = False,
) -> None:
    """Go on from a checkpoint: its run from its latest, else (or --fork) a new run."""
    run = call(ctx, lambda c: c.resume(checkpoint_id, fork=fork, new_run_id=new_run_id))
    print_run(run, as_json)


@app.command("move")
def move(
    ctx: typer.Context,
    workflow: Annotated[str, typer.Argument(help="The workflow whose runs move.")],
    run_ids: Annotated[
        list[str] | None, typer.Argument(help="The runs to move (or --all).", show_default=False)
    ] = None,
    to_version: Annotated[
        int, typer.Option("--to-version", min=1, help="The version to pin them to.")
    ] = 0,
    all_runs: Annotated[
        bool, typer.Option("--all", help="Every run of the workflow that can move.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Pin runs to another version of their workflow with the same graph (its
    services moved to new addresses); each moved run logs RUN_MOVED."""
    if not to_version:
        usage_error("--to-version is required: the version to move the runs to")
    if bool(run_ids) == all_runs:
        usage_error("name the runs to move, or give --all (not both)")
    moves = call(ctx, lambda c: c.move_runs(workflow, to_version, run_ids or (), all_runs=all_runs))
    if as_json:
        output.print_json(output.message_json(moves))
        return
    for run_id in moves.moved_run_ids:
        output.print_text(f"moved {run_id} to version {to_version}")
    for run_id in moves.skipped_run_ids:
        output.print_text(f"skipped {run_id} (being driven, completed, or of another graph)")


@app.command("delete")
def delete(ctx: typer.Context, run_id: RunArg, as_json: JsonOption = False) -> None:
    """Delete a run that ended, with its events, checkpoints and unshared state blobs."""
    deleted = call(ctx, lambda c: c.delete_run(run_id))
    if as_json:
        output.print_json({"run_id": run_id, **output.message_json(deleted)})
    else:
        output.print_text(
            f"deleted run {run_id}: {deleted.checkpoints_removed} checkpoint(s), "
            f"{deleted.events_removed} event(s), {deleted.blobs_removed} state blob(s)"
        )
