"""How `RunnerClient.wait` reads a run's outcome: its log up to its end or to
the moment it waits for input, the outputs decoded on the way; then the open
requests of a run that waits, or the error of one that failed."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Iterable
from typing import TYPE_CHECKING, Any, cast

from stepline import payloads
from stepline.errors import RunFailedError
from stepline.results import WAITING, OpenRequest, RunResult, types_by_name
from stepline.v1 import events_pb2

if TYPE_CHECKING:
    from stepline.client import RunnerClient


async def read_outcome(
    client: RunnerClient, run_id: str, output_type: Any, after: int
) -> RunResult:
    """The run's result once it ended or waits, with the events after `after`."""
    # The log may hold older waits that answers ended; a wait counts once
    # the run's status says it still waits, and then the events stored up
    # to that moment (outputs of the same superstep) are read too.
    result = RunResult(run=await client.get_run(run_id))
    until = result.run.last_sequence if result.waiting else None
    if until is not None and after >= until:
        return result
    watching = cast(AsyncGenerator[events_pb2.Event, None], client.watch(run_id, after=after))
    async with contextlib.aclosing(watching) as events:
        async for event in events:
            result.events.append(event)
            if event.kind == events_pb2.EVENT_KIND_OUTPUT:
                value = event.data
                result.outputs.append(
                    payloads.decode(value, output_type) if output_type is not None else value
                )
            if until is None and event.status == WAITING:
                result.run = await client.get_run(run_id)
                until = result.run.last_sequence if result.waiting else None
            if until is not None and event.sequence >= until:
                return result
    result.run = await client.get_run(run_id)
    return result


async def settled(
    client: RunnerClient, result: RunResult, request_types: Iterable[Any]
) -> RunResult:
    """`result`, with the run's open requests if it waits (their data decoded
    when its type is among `request_types`); `RunFailedError` if it failed or
    was cancelled."""
    if result.run.status in (events_pb2.RUN_STATUS_FAILED, events_pb2.RUN_STATUS_CANCELLED):
        raise RunFailedError(result.run)
    if result.waiting:
        types = types_by_name(request_types)
        pending = await client.list_pending_requests(result.run.run_id)
        result.requests = [OpenRequest.of(r, types) for r in pending]
    return result
