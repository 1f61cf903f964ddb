"""`stepline run ...`: start, list, inspect, follow and control runs."""

from __future__ import annotations

from typing import Annotated

import typer

from stepline.client import Run, RunnerClient
from stepline.v1 import events_pb2

from . import output
from .context import call
from .output import Column, JsonOption

app = typer.Typer(help="Start, list, inspect, follow and control runs.", no_args_is_help=True)

RunArg = Annotated[str, typer.Argument(help="The run's id.", show_default=False)]


def status_text(status: int) -> str:
    return output.enum_text(events_pb2.RunStatus.Name(status), "RUN_STATUS_")


def status_style(text: str) -> str:
    if text == "COMPLETED":
        return "green"
    if text in ("FAILED", "CANCELLED"):
        return "red"
    return "yellow" if "PENDING" in text else "cyan"


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
    if run.HasField("error"):
        fields.append(("error", f"{run.error.type}: {run.error.message}".strip(": ")))
        if run.error.executor_id:
            fields.append(("failed executor", run.error.executor_id))
    return [(name, value) for name, value in fields if value]


def print_run(run: Run, as_json: bool) -> None:
    if as_json:
        output.print_json(output.message_json(run))
    else:
        output.print_fields(run_fields(run))


@app.command("get")
def get(ctx: typer.Context, run_id: RunArg, as_json: JsonOption = False) -> None:
    """Show a run: status, superstep, latest checkpoint, error."""
    print_run(call(ctx, lambda c: c.get_run(run_id)), as_json)


@app.command("list")
def list_(
    ctx: typer.Context,
    workflow: Annotated[
        str, typer.Option("--workflow", "-w", help="Only this workflow's runs.")
    ] = "",
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List runs, newest first."""

    async def runs(client: RunnerClient) -> list[Run]:
        found: list[Run] = []
        async for run in client.list_runs(workflow, page_size=min(limit, 1000)):
            found.append(run)
            if len(found) >= limit:
                break
        return found

    found = call(ctx, runs)
    if as_json:
        output.print_json(output.records(found))
    else:
        output.print_table(found, RUN_COLUMNS)
