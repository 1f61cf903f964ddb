"""Server-sent events: one run's events (stored, then live), and a feed of
every run's starts and status changes for the runs page. A stream that fails
says why in a `problem` event and ends; the browser reconnects by itself
(after `retry`) and, for a run, goes on after the last event id it got."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette import EventSourceResponse
from starlette.requests import Request

from stepline.cli.output import message_json
from stepline.client import EventKind
from stepline.errors import SteplineError

from .api import link

RETRY_MS = 2000
PING_SECONDS = 15
MAX_SEQUENCE = 2**63 - 1
RUNS_FEED_KINDS = (
    EventKind.EVENT_KIND_RUN_STARTED,
    EventKind.EVENT_KIND_STATUS_CHANGED,
    EventKind.EVENT_KIND_SUPERSTEP_COMPLETED,
)


def _after(request: Request) -> int:
    given = request.headers.get("last-event-id") or request.query_params.get("after", "0")
    try:
        # Within int64: a larger one would fail building the WatchRun request.
        return min(max(0, int(given)), MAX_SEQUENCE)
    except ValueError:
        return 0


def _problem(exc: SteplineError) -> dict[str, Any]:
    message = json.dumps({"code": exc.code.name, "message": str(exc)[:300]})
    return {"event": "problem", "data": message, "retry": RETRY_MS}


async def run_events(request: Request) -> EventSourceResponse:
    run_id = request.path_params["run_id"]
    client = link(request).client
    after = _after(request)

    async def stream() -> AsyncIterator[dict[str, Any]]:
        yield {"event": "hello", "data": "{}", "retry": RETRY_MS}
        watching = client.watch(run_id, after=after, follow_after_end=True)
        try:
            async with contextlib.aclosing(watching) as events:  # type: ignore[type-var]
                async for event in events:
                    yield {
                        "event": "event",
                        "id": str(event.sequence),
                        "data": json.dumps(message_json(event)),
                    }
        except SteplineError as exc:
            yield _problem(exc)

    return EventSourceResponse(stream(), ping=PING_SECONDS)


async def runs_feed(request: Request) -> EventSourceResponse:
    client = link(request).client

    async def stream() -> AsyncIterator[dict[str, Any]]:
        yield {"event": "hello", "data": "{}", "retry": RETRY_MS}
        watching = client.watch_all(kinds=RUNS_FEED_KINDS)
        try:
            async with contextlib.aclosing(watching) as events:
                async for event in events:
                    data = {
                        "run_id": event.run_id,
                        "kind": EventKind.Name(event.kind),
                        "superstep": event.superstep,
                    }
                    yield {"event": "run", "data": json.dumps(data)}
        except SteplineError as exc:
            yield _problem(exc)

    return EventSourceResponse(stream(), ping=PING_SECONDS)
