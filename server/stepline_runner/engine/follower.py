"""`Follower`: what keeps a runner that follows a database another runner
owns and drives (`--follow`, a SQLite file) in step with it.

Such a runner serves reads and the watchers of runs, and drives nothing. Its
store says whether the owner committed since it last asked (`changed`); it
asks every POLL_SECONDS while anyone watches a run here, and then reads the
rows of the watched runs (`positions`, one query for 500) and, of each that
moved, the new events, which it publishes to the hub as if committed here.
So the watchers here are served as the owner serves its own: from the run's
tail in memory, at the run's pace, one reply for all of them at a position,
and a run's end or wait for input at once; a commit shows here within a poll
of the owner's. The owner, however many watch here, serves none of them.

A run seen the first time (or made again under its id) is published from
its latest SEED events on; its watchers wake to read anything older.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection
from typing import Protocol

from stepline.v1 import events_pb2

from ..errors import SteplineError
from .hub import EventHub

log = logging.getLogger(__name__)

POLL_SECONDS = 0.01
# Events of a run read at one poll; a run further on is read on at the next.
READ_BATCH = 2048
# A run seen the first time is published from this many events before its
# last: the watchers who join it as it starts are served from its tail too.
SEED = 512
GONE = -1  # the last sequence published of a run deleted


class FollowedStore(Protocol):
    """What a store of a database another runner owns adds (store/following.py)."""

    def changed(self) -> bool:
        """Whether the owner committed since the last call (the first: True)."""
        ...

    async def positions(self, run_ids: Collection[str]) -> dict[str, tuple[int, str]]:
        """Run id -> (last sequence, workflow id) of those of the runs that exist."""
        ...

    async def page_events(
        self, run_id: str, after_sequence: int, limit: int
    ) -> tuple[list[events_pb2.Event], bool]: ...


class Follower:
    def __init__(self, store: FollowedStore, hub: EventHub, poll: float = POLL_SECONDS) -> None:
        self._store = store
        self._hub = hub
        self._poll = poll
        self._known: dict[str, int] = {}  # watched run id -> last sequence published
        self._behind = False  # read again at the next poll, changed or not
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name="file-follower")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self._poll)
            try:
                await self.poll()
            except SteplineError as exc:  # the file is locked or failing: it may pass
                log.warning("following the database failed, trying again: %s", exc)

    async def poll(self) -> None:
        """Publish what the owner committed of the watched runs since the last poll."""
        watched = list(self._hub.watched())
        self._known = {run_id: self._known[run_id] for run_id in watched if run_id in self._known}
        if not watched or not (self._store.changed() or self._behind):
            return
        self._behind = True  # until this poll is through: a failed one is read again
        positions = await self._store.positions(watched)
        behind = False
        for run_id in watched:
            position = positions.get(run_id)
            if position is None:  # deleted: its watchers find out by the store, once
                if self._known.get(run_id) != GONE:
                    self._known[run_id] = GONE
                    self._hub.wake(run_id)
                continue
            behind |= await self._catch_up(run_id, *position)
        self._behind = behind

    async def _catch_up(self, run_id: str, last: int, workflow_id: str) -> bool:
        """Publish the run's events after the last published (a run seen the
        first time: its latest SEED); whether more wait."""
        known = self._known.get(run_id)
        if known is not None and (known == GONE or last < known):  # made again under its id
            known = None
        if known == last:
            return False
        after = max(0, last - SEED) if known is None else known
        events, more = await self._store.page_events(run_id, after, READ_BATCH)
        if not events or events[0].sequence != after + 1:
            # Deleted (and made again) since its row was read: from the store.
            self._known.pop(run_id, None)
            self._hub.wake(run_id)
            return False
        if known is None:
            self._hub.wake(run_id)  # whatever the hub held of the run is not this
        self._known[run_id] = events[-1].sequence
        self._hub.publish(run_id, workflow_id, events)
        return more
