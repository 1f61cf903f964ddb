"""`Follower`: what keeps a runner that follows a database another runner
owns and drives (`--follow`, a SQLite file) in step with it.

Such a runner serves reads and the watchers of runs, and drives nothing. Its
store says whether the owner committed since it last asked (`changed`); it
asks every POLL_SECONDS, and while anyone watches a run here then reads the
rows of the watched runs (`positions`, one query for 500) and, of each that
moved, the new events, which it publishes to the hub as if committed here.
So the watchers here are served as the owner serves its own: from the run's
tail in memory, at the run's pace, one reply for all of them at a position,
and a run's end or wait for input at once; a commit shows here within a poll
of the owner's. The owner, however many watch here, serves none of them.

A running run seen the first time (or made again under its id) is
published from its latest SEED events on, an ended one from its next
commit; its watchers wake to read anything older from the store. A run
nobody watches here any more is forgotten, its tail too (nobody would keep
it up to date). The file replaced, removed or migrated stops the follower
(`FileChanged`): the command then stops the runner, saying why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from typing import NamedTuple, Protocol

from stepline.v1 import events_pb2

from ..errors import SteplineError
from ..statuses import is_terminal
from ..store import FileChanged, Position
from .hub import EventHub

log = logging.getLogger(__name__)

POLL_SECONDS = 0.01
# A poll that took long (thousands of runs watched) is followed by a pause
# this many times as long (its time counts the loop's other work too, so
# this is a bound on its share of the loop only roughly), at most PAUSE_MAX.
PAUSE_PER_POLL = 4
PAUSE_MAX = 0.2
# Events of a run read at one poll; a run further on is read on at the next.
READ_BATCH = 2048
# A running run seen the first time is published from this many events before
# its last: the watchers who join it as it starts are served from its tail too.
SEED = 512


class FollowSource(Protocol):
    """What a store of a database another runner owns adds (store/following.py)."""

    def changed(self) -> bool:
        """Whether the owner committed since the last call (the first: True);
        raises FileChanged when the file cannot be followed on."""
        ...

    async def positions(self, run_ids: Collection[str]) -> dict[str, Position]:
        """Where those of the runs that exist stand."""
        ...

    async def page_events(
        self, run_id: str, after_sequence: int, limit: int, *, incarnation: int
    ) -> tuple[list[events_pb2.Event], bool]:
        """Events of the run after `after_sequence`, if its row is `incarnation` still."""
        ...


class Published(NamedTuple):
    """What was published of a run: of which incarnation (its row's seq), up to where."""

    incarnation: int
    last: int


async def _nothing() -> None:
    pass


class Follower:
    def __init__(
        self,
        store: FollowSource,
        hub: EventHub,
        poll: float = POLL_SECONDS,
        on_lost: Callable[[], Awaitable[None]] = _nothing,
    ) -> None:
        """`on_lost`: awaited once the file cannot be followed on (FileChanged)."""
        self._store = store
        self._hub = hub
        self._poll = poll
        self._on_lost = on_lost
        # Watched run id -> what was published of it (None: deleted, its watchers told).
        self._known: dict[str, Published | None] = {}
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
        failing = False
        pause = self._poll
        while True:
            await asyncio.sleep(pause)
            began = time.monotonic()
            try:
                await self.poll()
            except FileChanged as exc:
                log.error("following the database stopped: %s", exc)
                self._hub.wake_all()  # nothing is published from now on: to the store
                await self._on_lost()  # the command stops the runner too (`store.lost`)
                return
            except Exception as exc:
                if not failing:  # once, not every poll
                    trace = not isinstance(exc, SteplineError)  # a bug or damage: its stack
                    log.warning(
                        "following the database failed, trying again: %s", exc, exc_info=trace
                    )
                failing, pause = True, self._poll
                continue
            if failing:
                log.info("following the database again")
            took = time.monotonic() - began
            failing, pause = False, min(PAUSE_MAX, max(self._poll, PAUSE_PER_POLL * took))

    async def poll(self) -> None:
        """Publish what the owner committed of the watched runs since the last poll."""
        changed = self._store.changed()  # asked even so: it tells a file replaced
        watched = self._hub.watched()
        if not watched:
            self._forget(list(self._known))
            return
        if not (changed or self._behind):
            return  # nothing committed: nothing any tail here lacks
        self._forget([run_id for run_id in self._known if run_id not in watched])
        self._behind = True  # until this poll is through: a failed one is read again
        ids = list(watched)
        positions = await self._store.positions(ids)
        behind = False
        for run_id in ids:
            position = positions.get(run_id)
            if position is not None:
                behind |= await self._catch_up(run_id, position)
            elif run_id not in self._known or self._known[run_id] is not None:
                self._known[run_id] = None  # deleted: its watchers find out by the store
                self._hub.wake(run_id)
        self._behind = behind

    def _forget(self, run_ids: Collection[str]) -> None:
        """Runs watched no more: what the hub holds of them goes stale from now
        on (nobody publishes their commits), so it goes."""
        for run_id in run_ids:
            del self._known[run_id]
            self._hub.forget(run_id)

    async def _catch_up(self, run_id: str, position: Position) -> bool:
        """Publish the run's events after the last published; whether more wait.
        A run seen the first time (or made again under its id) is published
        from its latest SEED events if running, else from its next commit."""
        known = self._known.get(run_id)
        last = position.last_sequence
        if known is not None and (known.incarnation != position.incarnation or last < known.last):
            known = None  # made again under its id: what the hub holds is the old run's
        if known is None:
            self._hub.wake(run_id)  # its watchers read the store
            if is_terminal(position.status):  # nothing to keep in memory for them
                self._known[run_id] = Published(position.incarnation, last)
                return False
        elif known.last == last:
            return False
        after = known.last if known is not None else max(0, last - SEED)
        events, more = await self._store.page_events(
            run_id, after, READ_BATCH, incarnation=position.incarnation
        )
        if not events or events[0].sequence != after + 1:
            # Deleted (and made again) since its row was read: from the store.
            self._known.pop(run_id, None)
            self._hub.wake(run_id)
            return False
        self._known[run_id] = Published(position.incarnation, events[-1].sequence)
        self._hub.publish(run_id, position.workflow_id, events)
        return more
