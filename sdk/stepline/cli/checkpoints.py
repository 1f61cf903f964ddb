"""`stepline checkpoint ...`: checkpoints of runs: list, inspect, compare, delete."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from stepline.client import Checkpoint, RunnerClient

from . import output
from .checkpoint_diff import diff_checkpoints, diff_json, diff_lines, message_text, request_text
from .context import call
from .output import Column, JsonOption

app = typer.Typer(help="Checkpoints of runs: list, inspect, compare, delete.", no_args_is_help=True)

CheckpointArg = Annotated[str, typer.Argument(help="The checkpoint's id.", show_default=False)]

CHECKPOINT_COLUMNS = [
    Column("CHECKPOINT", lambda c: c.checkpoint_id),
    Column("STEP", lambda c: str(c.superstep)),
    Column("PARENT", lambda c: c.parent_checkpoint_id or "-"),
    Column("CREATED", lambda c: output.timestamp_text(c.created_at)),
]


@app.command("list")
def list_(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    as_json: JsonOption = False,
) -> None:
    """List a run's checkpoints, oldest first."""

    async def every(client: RunnerClient) -> list[Checkpoint]:
        return [checkpoint async for checkpoint in client.list_checkpoints(run_id)]

    checkpoints = call(ctx, every)
    output.print_records(checkpoints, CHECKPOINT_COLUMNS, as_json)


@app.command("get")
def get(
    ctx: typer.Context,
    checkpoint_id: CheckpointArg,
    states: Annotated[
        bool, typer.Option("--states", help="Show the executor states, decoded.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Show a checkpoint: what it holds, and with --states each executor's state."""
    checkpoint = call(ctx, lambda c: c.get_checkpoint(checkpoint_id, include_content=True))
    if not states:
        checkpoint.content.ClearField("executor_states")
    if as_json:
        output.print_json(output.message_json(checkpoint))
        return
    output.print_fields(_fields(checkpoint))
    for line in _content_lines(checkpoint, states):
        output.print_text(line)


def _fields(checkpoint: Checkpoint) -> list[tuple[str, str]]:
    content = checkpoint.content
    fields = [
        ("checkpoint", checkpoint.checkpoint_id),
        ("run", checkpoint.run_id),
        ("superstep", str(checkpoint.superstep)),
        ("parent", checkpoint.parent_checkpoint_id),
        ("created", output.timestamp_text(checkpoint.created_at)),
        ("graph signature", checkpoint.graph_signature),
        ("pending messages", str(len(content.pending_messages))),
        ("fan-in buffers", str(len(content.fan_in_buffers))),
        ("shared state keys", str(len(content.shared_state))),
        ("pending requests", str(len(content.pending_requests))),
        ("pending responses", str(len(content.pending_responses))),
        ("timers", str(len(content.timers)) if content.timers else ""),
    ]
    return [(name, value) for name, value in fields if value]


def _content_lines(checkpoint: Checkpoint, states: bool) -> list[str]:
    content = checkpoint.content
    lines = [f"message: {message_text(m)}" for m in content.pending_messages]
    lines += [f"request: {request_text(r)}" for r in content.pending_requests]
    lines += [
        f"timer due {output.timestamp_text(t.deliver_at)}: {message_text(t)}"
        for t in content.timers
    ]
    for key, value in sorted(content.shared_state.items()):
        lines.append(f"shared {key}: {output.payload_text(value, 200)}")
    if states:
        for executor_id, state in sorted(content.executor_states.items()):
            decoded = output.payload_json(state)
            body: Any = decoded.get("value", decoded)
            lines.append(f"state of {executor_id} ({state.type_name}):")
            text = json.dumps(body, indent=2, sort_keys=True)
            lines += ["  " + line for line in text.split("\n")]
    return lines


@app.command("diff")
def diff(
    ctx: typer.Context,
    first: Annotated[str, typer.Argument(help="A checkpoint id.")],
    second: Annotated[str, typer.Argument(help="Another checkpoint id.")],
    as_json: JsonOption = False,
) -> None:
    """What differs from checkpoint FIRST to SECOND: states, messages, buffers, requests."""

    async def both(client: RunnerClient) -> tuple[Checkpoint, Checkpoint]:
        a = await client.get_checkpoint(first, include_content=True)
        b = await client.get_checkpoint(second, include_content=True)
        return a, b

    result = diff_checkpoints(*call(ctx, both))
    if as_json:
        output.print_json(diff_json(result))
    else:
        for line in diff_lines(result):
            output.print_text(line)


@app.command("delete")
def delete(ctx: typer.Context, checkpoint_id: CheckpointArg, as_json: JsonOption = False) -> None:
    """Delete a checkpoint (not its run's latest) and the state blobs only it used."""
    removed = call(ctx, lambda c: c.delete_checkpoint(checkpoint_id))
    if as_json:
        output.print_json({"checkpoint_id": checkpoint_id, "blobs_removed": removed})
    else:
        output.print_text(f"deleted checkpoint {checkpoint_id}: {removed} state blob(s)")
