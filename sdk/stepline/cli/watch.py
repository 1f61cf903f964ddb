"""`stepline run watch RUN`: a live view of one run on one screen, until it
ends; across a runner restart the SDK's watch reconnects and goes on after
the last event it delivered."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from stepline.client import Run, RunnerClient
from stepline.errors import SteplineError

from . import output
from .events_view import WatchModel, status_text

_STATE_STYLES = {"idle": "dim", "running": "cyan", "done": "green", "failed": "red"}


def render(model: WatchModel) -> RenderableType:
    """The screen: a header, a row per executor, the latest events, the outcome."""
    status = status_text(model.status) if model.status else "-"
    header = Text.assemble(
        ("run ", "bold"),
        model.run_id,
        ("  workflow ", "bold"),
        model.workflow_id or "-",
        ("  superstep ", "bold"),
        str(model.superstep),
        ("  status ", "bold"),
        (status, _status_style(status)),
    )
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("EXECUTOR", "STATE", "RUNS", "LAST"):
        table.add_column(column)
    for row in model.executors.values():
        last = "-" if row.last_duration_ms is None else f"{row.last_duration_ms:.1f} ms"
        table.add_row(
            Text(row.executor_id),
            Text(row.state, style=_STATE_STYLES.get(row.state, "")),
            str(row.invocations),
            last,
        )
    parts: list[RenderableType] = [header, Text(), table, Text(), Text("latest events", "bold")]
    parts.extend(Text(line) for line in model.latest)
    if model.outcome is not None:
        parts.extend([Text(), _outcome(model.outcome)])
    return Group(*parts)


def _status_style(status: str) -> str:
    return {"COMPLETED": "bold green", "FAILED": "bold red", "CANCELLED": "bold red"}.get(
        status, "yellow"
    )


def _outcome(run: Run) -> Text:
    status = status_text(run.status)
    text = Text.assemble(("outcome ", "bold"), (status, _status_style(status)))
    if run.HasField("error") and (run.error.type or run.error.message):
        where = f" in {run.error.executor_id}" if run.error.executor_id else ""
        text.append(f"{where}: {run.error.type}: {run.error.message}".rstrip(": "))
    return text


async def watch_run(
    client: RunnerClient, run_id: str, as_json: bool, reconnect_timeout: float
) -> Run:
    """Follow the run to its end, showing it; return the run as it ended."""
    run = await client.get_run(run_id)
    if as_json:
        async for event in client.watch(run_id, reconnect_timeout=reconnect_timeout):
            output.print_json_line(output.message_json(event))
        return await client.get_run(run_id)
    model = WatchModel(run_id, run.workflow_id)
    try:
        definition, _ = await client.get_workflow(run.workflow_id)
        model.add_executors([node.id for node in definition.executors])
    except SteplineError:
        pass  # the rows then appear as executors run
    screen = output.console()
    if not screen.is_terminal:
        # Piped: no redrawing, only the final screen.
        async for event in client.watch(run_id, reconnect_timeout=reconnect_timeout):
            model.apply(event)
        model.outcome = await client.get_run(run_id)
        screen.print(render(model))
        return model.outcome
    with Live(render(model), console=screen, refresh_per_second=8) as live:
        async for event in client.watch(run_id, reconnect_timeout=reconnect_timeout):
            model.apply(event)
            live.update(render(model))
        model.outcome = await client.get_run(run_id)
        live.update(render(model))
    return model.outcome
