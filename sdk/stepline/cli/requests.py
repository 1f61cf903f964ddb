"""`stepline request ...`: requests for input of waiting runs."""

from __future__ import annotations

from typing import Annotated

import typer

from stepline import payloads
from stepline.client import InputRequest, Run, RunnerClient

from . import output
from .context import call
from .inputs import json_argument
from .output import Column, JsonOption
from .runs import print_run

app = typer.Typer(help="Requests for input of waiting runs.", no_args_is_help=True)

REQUEST_COLUMNS = [
    Column("REQUEST", lambda r: r.request_id),
    Column("EXECUTOR", lambda r: r.executor_id),
    Column("STEP", lambda r: str(r.superstep)),
    Column("WANTS", lambda r: r.response_type),
    Column("DATA", lambda r: output.payload_text(r.data, 80)),
]


@app.command("list")
def list_(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List a run's open requests, oldest first: what each asks and the response type it wants."""
    requests: list[InputRequest] = call(
        ctx, lambda c: c.list_pending_requests(run_id, page_size=min(limit, 1000), limit=limit)
    )
    output.print_records(requests, REQUEST_COLUMNS, as_json)


@app.command("answer")
def answer(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    request_id: Annotated[str, typer.Argument(help="The request's id.")],
    value: Annotated[
        str, typer.Option("--json", help="The response: JSON, or @FILE holding it (@- stdin).")
    ],
    type_name: Annotated[
        str, typer.Option("--type", help="Its payload type name (default: the one requested).")
    ] = "",
) -> None:
    """Answer one open request of a waiting run; the run goes on at once."""
    decoded = json_argument(value, "--json")

    async def send(client: RunnerClient) -> Run:
        name = type_name
        if not name:
            # The type the request wants, so that a dataclass response needs no --type.
            pending = await client.list_pending_requests(run_id)
            name = next((r.response_type for r in pending if r.request_id == request_id), "")
        payload = payloads.encode(decoded, name or None)
        return await client.send_responses(run_id, {request_id: payload})

    print_run(call(ctx, send), as_json=False)
