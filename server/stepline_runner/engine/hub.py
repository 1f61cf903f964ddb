"""Live delivery of committed events to watchers.

Watchers of one run pull: each reads what it has not seen from a short
in-memory tail of the run, or from the store when it fell further behind, then
waits for the next commit. Nothing is queued per watcher, so a stalled one
costs no memory and never slows the run or the other watchers.

Watchers of all runs (dashboards) get a bounded live buffer each; one that
falls further behind than the buffer is told so and must reconnect.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass, field

from stepline.v1 import events_pb2

from ..statuses import ends_run
from .errors import Reason, ResourceExhausted


@dataclass
class _RunTail:
    events: deque[events_pb2.Event]
    last_sequence: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(eq=False)  # kept in a set, by identity
class Subscription:
    """One watcher of all runs: a bounded buffer the hub fills as it publishes."""

    workflow_id: str
    kinds: Collection[events_pb2.EventKind]
    limit: int
    _close: Callable[[Subscription], None]
    buffer: deque[events_pb2.Event] = field(default_factory=deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    overflowed: bool = False

    def offer(self, workflow_id: str, events: list[events_pb2.Event]) -> None:
        if self.overflowed or (self.workflow_id and workflow_id != self.workflow_id):
            return
        for event in events:
            if self.kinds and event.kind not in self.kinds:
                continue
            if len(self.buffer) >= self.limit:
                self.overflowed = True
                break
            self.buffer.append(event)
        self.ready.set()

    async def batches(self) -> AsyncIterator[list[events_pb2.Event]]:
        """What was published since the last batch, as it comes; ends the
        subscription when the caller stops."""
        try:
            while True:
                if self.buffer:
                    batch = list(self.buffer)
                    self.buffer.clear()
                    yield batch
                if self.overflowed:
                    raise ResourceExhausted(
                        f"this watcher fell more than {self.limit} events behind; "
                        "reconnect, and use WatchRun with after_sequence to catch up on a run",
                        reason=Reason.WATCHER_TOO_SLOW,
                    )
                self.ready.clear()
                await self.ready.wait()
        finally:
            self._close(self)


class EventHub:
    def __init__(self, tail_size: int = 512, subscriber_buffer: int = 4096) -> None:
        self._tail_size = tail_size
        self._subscriber_buffer = subscriber_buffer
        self._runs: dict[str, _RunTail] = {}
        self._subscribers: set[Subscription] = set()

    def _tail(self, run_id: str) -> _RunTail:
        tail = self._runs.get(run_id)
        if tail is None:
            tail = self._runs[run_id] = _RunTail(deque(maxlen=self._tail_size))
        return tail

    def publish(self, run_id: str, workflow_id: str, events: list[events_pb2.Event]) -> None:
        """Announce events that are committed, in sequence order."""
        if not events:
            return
        for subscriber in self._subscribers:
            subscriber.offer(workflow_id, events)
        tail = self._tail(run_id)
        tail.events.extend(events)
        tail.last_sequence = events[-1].sequence
        tail.changed.set()
        tail.changed = asyncio.Event()
        if ends_run(events[-1]):
            # Finished runs are served from the store; waiters already woke.
            del self._runs[run_id]

    def recent(self, run_id: str, after_sequence: int) -> list[events_pb2.Event] | None:
        """Events after `after_sequence` from the tail: [] when the caller is up
        to date, None when the tail does not hold them all (read the store)."""
        tail = self._runs.get(run_id)
        if tail is None or not tail.last_sequence:
            return None
        if tail.last_sequence <= after_sequence:
            return []
        first = tail.events[0].sequence
        if first > after_sequence + 1:
            return None
        return list(itertools.islice(tail.events, after_sequence + 1 - first, None))

    async def wait(
        self,
        run_id: str,
        after_sequence: int,
        stored_last_sequence: Callable[[], Awaitable[int]],
    ) -> None:
        """Return once an event after `after_sequence` may have been committed.

        A run's tail is dropped when it ends, so a waiter that finds none asks
        the store too: the run's last commit may have been published while the
        waiter was reading, and nothing would ever wake it.
        """
        fresh = run_id not in self._runs
        tail = self._tail(run_id)
        if tail.last_sequence > after_sequence:
            return
        changed = tail.changed  # taken first: a publish during the read below sets it
        if fresh and await stored_last_sequence() > after_sequence:
            return
        await changed.wait()

    def forget(self, run_id: str) -> None:
        """The run was deleted: wake whoever waits on it, keep nothing of it."""
        tail = self._runs.pop(run_id, None)
        if tail is not None:
            tail.changed.set()

    def subscribe_all(
        self, workflow_id: str = "", kinds: Collection[events_pb2.EventKind] = ()
    ) -> Subscription:
        """Live events of every run (or one workflow's runs) from now on."""
        subscription = Subscription(
            workflow_id, frozenset(kinds), self._subscriber_buffer, self._subscribers.discard
        )
        self._subscribers.add(subscription)
        return subscription
