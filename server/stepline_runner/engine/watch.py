"""Following one run's events: stored ones first, then live, never twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection

from stepline.v1 import events_pb2, runner_pb2

from ..statuses import ends_run, is_terminal
from ..store import Store
from .errors import NotFound, Reason
from .hub import EventHub, split

READ_BATCH = 256


async def follow_run(
    store: Store,
    hub: EventHub,
    run: runner_pb2.Run,
    after_sequence: int,
    kinds: Collection[events_pb2.EventKind],
    follow_after_end: bool,
) -> AsyncIterator[list[events_pb2.Event]]:
    """Batches of the run's events after `after_sequence` (only `kinds`, if
    any), until its terminal event unless `follow_after_end`."""
    run_id = run.run_id

    async def stored_last_sequence() -> int:
        current = await store.get_run(run_id)
        if current is None:
            raise NotFound(
                f"run {run_id!r} was deleted",
                reason=Reason.RUN_NOT_FOUND,
                context={"run_id": run_id},
            )
        return current.last_sequence

    seen = after_sequence
    ended = is_terminal(run.status) and run.last_sequence <= seen
    clock = asyncio.get_running_loop().time
    sent = 0.0
    with hub.watching(run_id):
        while not (ended and not follow_after_end):
            # Many watchers: let commits gather into fewer responses (asleep,
            # not woken by each commit meanwhile).
            if (pause := sent + hub.pace(run_id) - clock()) > 0:
                await asyncio.sleep(pause)
            batch = hub.recent(run_id, seen)
            if batch is None:
                batch = await store.read_events(run_id, seen, READ_BATCH)
            if not batch:
                await hub.wait(run_id, seen, stored_last_sequence)
                continue
            end = next((i for i, e in enumerate(batch) if ends_run(e)), None)
            if end is not None:
                batch = batch[: end + 1]
                ended = True
            seen = batch[-1].sequence
            chosen = [e for e in batch if e.kind in kinds] if kinds else batch
            # Sized by their bytes, which the hub keeps for the responses anyway.
            for part in split(chosen, size_of=lambda e: len(hub.encoded(e))):
                yield part
            sent = clock()
