"""`Relay`: the events other runners commit, for this runner's watchers of
all runs (WatchRuns), when runners share a database.

A runner's hub hears only its own commits; of the others' it hears a
notification (store/news.py), a hint. The relay reads what the events table
has of that run after the last event it handed on, and offers it to the
hub's subscribers as if committed here. This runner's own commits go
through the relay too (`published`), so that a run that moves between
runners while watched reaches every watcher once, in order: each run has
one cursor, the last sequence handed on, and a commit that would leave a
gap after it (the run was driven elsewhere until now) waits for a read of
the table, which has it too. The table is the truth: the run's workflow
(which watchers may see it) comes from the run's row, never from a
notification.

A run may be deleted and made again under its id (by any runner, unheard
here), so a cursor may be stale: each names the event at it too (its kind
and time, `Mark`), and a read starts one event early to check that this
event is still there; where it is not, the run is followed afresh from its
row. A commit of this runner that ends before the cursor is checked so too.

It costs nothing while nobody watches all runs: no reads, no cursors kept.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from stepline.v1 import events_pb2

from ..statuses import ends_run
from ..store import Committed, Store
from .hub import EventHub

log = logging.getLogger(__name__)

READ_BATCH = 256
# Runs followed at once; the oldest is forgotten beyond (its next events
# then start from what its notification says).
MAX_RUNS = 10_000

# What tells an event from the one a run made again under its id has at the
# same sequence: its kind and the time it was made (ns).
Mark = tuple[int, int, int]


def mark(event: events_pb2.Event) -> Mark:
    return event.kind, event.time.seconds, event.time.nanos


class Relay:
    def __init__(self, store: Store, hub: EventHub) -> None:
        self._store = store
        self._hub = hub
        self._cursors: dict[str, int] = {}  # run id -> the last sequence handed on
        self._marks: dict[str, Mark] = {}  # run id -> the mark of the event at its cursor
        self._workflows: dict[str, str] = {}  # run id -> its workflow, as stored
        self._reading: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()  # read once more: committed while reading

    def published(self, run_id: str, workflow_id: str, events: list[events_pb2.Event]) -> None:
        """Events this runner committed: handed on now unless that would skip
        events committed elsewhere (then a read hands on both)."""
        if not self._hub.subscribed:
            self._forget_all()
            return
        cursor = self._cursors.get(run_id)
        if run_id in self._reading:
            self._again.add(run_id)
        elif cursor is None or events[0].sequence == cursor + 1 or self._overlaps(run_id, events):
            self._workflows.setdefault(run_id, workflow_id)
            self._hand_on(run_id, workflow_id, events, self._cursors.get(run_id, 0))
        else:
            self._read(run_id)  # a gap, or a cursor the store tells stale or not

    def _overlaps(self, run_id: str, events: list[events_pb2.Event]) -> bool:
        """Whether the events (which begin at or before the cursor) hold the
        event at the cursor, unchanged. One that differs makes the cursor
        stale (the run was made again): it is forgotten, and a read from
        the run's row hands them on."""
        cursor = self._cursors[run_id]
        first = events[0].sequence
        if not first <= cursor <= events[-1].sequence:
            return False
        known = self._marks.get(run_id)
        if known is not None and mark(events[cursor - first]) != known:
            self._forget(run_id)
            return False
        return True

    def forget(self, run_id: str) -> None:
        """The run was deleted here: a run made again under its id is
        followed from its start."""
        task = self._reading.pop(run_id, None)
        if task is not None:
            task.cancel()  # what it read is the deleted run's
        self._again.discard(run_id)
        self._forget(run_id)

    def committed(self, news: Committed) -> None:
        """Another runner committed events (or some may have gone unheard:
        `news.run_id` empty)."""
        if not self._hub.subscribed:
            self._forget_all()
            return
        if not news.run_id:
            for run_id in list(self._cursors):
                self._heard(run_id)
            return
        self._heard(news.run_id, news.first)

    def _heard(self, run_id: str, first: int = 0) -> None:
        if run_id in self._reading:
            self._again.add(run_id)  # the read under way may have read before it
        else:
            self._read(run_id, first)

    async def close(self) -> None:
        tasks = list(self._reading.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _hand_on(
        self, run_id: str, workflow_id: str, events: Sequence[events_pb2.Event], cursor: int
    ) -> None:
        fresh = [e for e in events if e.sequence > cursor]
        if not fresh:
            return
        self._hub.offer(workflow_id, fresh)
        last = fresh[-1]
        if ends_run(last):
            self._forget(run_id)
            return
        self._cursors.pop(run_id, None)  # to the end: the oldest are first
        self._cursors[run_id] = last.sequence
        self._marks[run_id] = mark(last)
        if len(self._cursors) > MAX_RUNS:
            self._forget(next(iter(self._cursors)))

    def _read(self, run_id: str, first: int = 0) -> None:
        if run_id not in self._reading:
            task = asyncio.create_task(self._reads(run_id, first), name=f"relay-{run_id[:64]}")
            self._reading[run_id] = task

    async def _reads(self, run_id: str, first: int) -> None:
        try:
            start = await self._start(run_id, first)
            while start is not None:
                self._again.discard(run_id)
                known = self._marks.get(run_id) if start else None
                batch = await self._store.read_events(run_id, start - bool(known), READ_BATCH)
                if known is not None:
                    if not batch or mark(batch[0]) != known:
                        # Deleted since (and perhaps made again): follow it afresh.
                        self._forget(run_id)
                        start = await self._start(run_id, 0)
                        continue
                    batch = batch[1:]
                if not batch and run_id not in self._again:
                    return
                self._offer(run_id, batch, start)
                start = self._cursors.get(run_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The store out of reach, say: the run's next news reads again.
            log.exception("run %s: reading events committed elsewhere failed", run_id[:64])
        finally:
            if self._reading.get(run_id) is asyncio.current_task():  # not forgotten meanwhile
                del self._reading[run_id]
                self._again.discard(run_id)

    async def _start(self, run_id: str, first: int) -> int | None:
        """The sequence to read after: the cursor, or for a run not followed
        yet what the news says, at most a batch back from the stored end (a
        notification is no reason to read a whole log); None: no such run."""
        if run_id in self._cursors and run_id in self._workflows:
            return self._cursors[run_id]
        run = await self._store.get_run(run_id)
        if run is None:
            self._forget(run_id)
            return None
        self._workflows[run_id] = run.workflow_id
        start = max(first - 1, run.last_sequence - READ_BATCH, 0)
        start = min(start, run.last_sequence)
        self._cursors[run_id] = self._cursors.get(run_id, start)
        return self._cursors[run_id]

    def _offer(self, run_id: str, batch: Sequence[events_pb2.Event], start: int) -> None:
        workflow_id = self._workflows.get(run_id)
        if workflow_id is None or not batch:
            return
        self._hand_on(run_id, workflow_id, batch, start)

    def _forget(self, run_id: str) -> None:
        self._cursors.pop(run_id, None)
        self._marks.pop(run_id, None)
        self._workflows.pop(run_id, None)

    def _forget_all(self) -> None:
        if self._cursors:
            self._cursors.clear()
            self._marks.clear()
            self._workflows.clear()
