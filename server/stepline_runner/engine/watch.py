"""Following one run's events: stored ones first, then live, never twice."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import AsyncIterator

from stepline.v1 import events_pb2, runner_pb2

from ..statuses import is_terminal
from ..store import Store
from .errors import NotFound, Reason
from .hub import EventHub
from .replies import Batch, Reply

# Events a watcher reads from the store at once (within the store's READ_BYTES):
# a hundred watchers that join a fast run some 100 ms late catch up in a
# response or two each, not one per 256 events.
READ_BATCH = 2048


async def follow_run(
    store: Store,
    hub: EventHub,
    run: runner_pb2.Run,
    after_sequence: int,
    kinds: frozenset[events_pb2.EventKind],
    follow_after_end: bool,
) -> AsyncIterator[Batch]:
    """Batches of the run's events after `after_sequence` (only `kinds`, if
    any), until its terminal event unless `follow_after_end`: its last one,
    an end that a resume went on from is passed over."""
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

    async def read(at: int) -> Reply | None:
        stored, more = await store.page_events(run_id, at, READ_BATCH)
        if not stored:
            return None
        reply = hub.cut(stored, kinds)
        # A run's end cuts a reply short: what follows it (a resume) is stored.
        drained = not more and reply.last == stored[-1].sequence
        return dataclasses.replace(reply, drained=drained) if drained else reply

    seen = after_sequence
    ended = is_terminal(run.status) and run.last_sequence <= seen
    with hub.watching(run_id):
        if not ended:
            await hub.joined(run_id, seen)
        while not (ended and not follow_after_end):
            # From the tail, the reply every watcher here gets; else the store
            # (one read for every watcher here at once).
            reply = hub.reply(run_id, seen, kinds)
            if reply is None:
                reply = await hub.stored.reply((run_id, seen, kinds), functools.partial(read, seen))
            if reply is None or reply.last == seen:
                await hub.wait(run_id, seen, stored_last_sequence)
                continue
            for batch in reply.batches:
                yield batch
            seen, ended = reply.last, reply.ended
            if ended and not follow_after_end:
                # Not `reply.drained`: a read shared with others may have begun
                # before a resume that this watcher's run row already shows.
                ended = await _is_last(store, hub, run_id, seen)
            elif reply.drained:
                # Read again at once, and the watchers of a run another runner
                # drives would each be answered once a read, at no pace: the
                # next events come by the hub, at the run's pace.
                await hub.wait(run_id, seen, stored_last_sequence)


async def _is_last(store: Store, hub: EventHub, run_id: str, sequence: int) -> bool:
    """Whether the run's event `sequence` is its last: the live tail knows
    without a read while a watcher is there, unless runners share the
    database (`hub.relay`): another may have resumed the run, and this one
    hears of it by a notification, later. So then the store says, once per
    end; a tail it proves stale is dropped, as that notification will."""
    later = hub.recent(run_id, sequence)
    if later or (later is not None and hub.relay is None):
        return not later
    current = await store.get_run(run_id)
    if current is None or current.last_sequence <= sequence:
        return True
    if later is not None:
        hub.wake(run_id)  # the watcher reads what the tail lacks from the store
    return False
