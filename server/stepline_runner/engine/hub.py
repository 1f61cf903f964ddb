"""Live delivery of committed events to watchers.

Watchers of one run pull: each reads what it has not seen from a short
in-memory tail of the run, or from the store when it fell further behind, then
waits for the next commit. Nothing is queued per watcher, so a stalled one
costs no memory and never slows the run or the other watchers.

Many watchers of one run are paced: each sends at most once every
`PACE_PER_WATCHER` times the run's watchers (at most `PACE_MAX`), so a
hundred watchers of a fast run cost the runner a few large responses each,
not one response per commit each (a response costs gRPC far more than an
event's bytes in it). A lone watcher is not paced; live events reach one of
N watchers at most min(N x 0.2 ms, 20 ms) later than they would alone.

Watchers of all runs (dashboards) get a live buffer each, bounded in bytes;
one that falls further behind than the buffer is ended with a message saying
how to catch up. Every batch handed to a watcher is bounded in bytes too, so
what waits in the transport for a slow reader stays small.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field

from stepline.v1 import events_pb2

from ..namespaces import split_workflow_key
from ..statuses import ends_run
from .errors import Reason, ResourceExhausted

# Bytes of events per response to a watcher (a larger event goes alone).
BATCH_BYTES = 1024 * 1024
# Seconds between two responses to one watcher, per watcher of the run, and at most.
PACE_PER_WATCHER = 0.0002
PACE_MAX = 0.02


def split(
    events: Sequence[events_pb2.Event],
    max_bytes: int = BATCH_BYTES,
    size_of: Callable[[events_pb2.Event], int] = events_pb2.Event.ByteSize,
) -> Iterator[list[events_pb2.Event]]:
    """Consecutive runs of `events` of at most `max_bytes` each (an event
    larger than that alone); `size_of` gives an event's bytes."""
    batch: list[events_pb2.Event] = []
    size = 0
    for event in events:
        event_size = size_of(event)
        if batch and size + event_size > max_bytes:
            yield batch
            batch, size = [], 0
        batch.append(event)
        size += event_size
    if batch:
        yield batch


@dataclass
class _RunTail:
    """A run's latest events, at most so many and so many bytes (at least the
    last one): a watcher further behind reads the store."""

    events: deque[events_pb2.Event] = field(default_factory=deque)
    sizes: deque[int] = field(default_factory=deque)
    size: int = 0
    last_sequence: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    # Sequence -> the event's bytes, once a watcher needed them (`EventHub.encoded`).
    encoded: dict[int, bytes] = field(default_factory=dict)

    def extend(self, sized: list[tuple[events_pb2.Event, int]], count: int, size: int) -> None:
        for event, event_size in sized:
            self.events.append(event)
            self.sizes.append(event_size)
            self.size += event_size
        while len(self.events) > 1 and (len(self.events) > count or self.size > size):
            self.encoded.pop(self.events.popleft().sequence, None)
            self.size -= self.sizes.popleft()

    def holds(self, sequence: int) -> bool:
        return bool(self.events) and self.events[0].sequence <= sequence <= self.last_sequence


@dataclass(eq=False)  # kept in a set, by identity
class Subscription:
    """One watcher of all runs: a buffer, bounded in bytes, that the hub fills
    as it publishes."""

    workflow_id: str
    kinds: Collection[events_pb2.EventKind]
    limit_bytes: int
    _close: Callable[[Subscription], None]
    buffer: deque[tuple[events_pb2.Event, int]] = field(default_factory=deque)
    buffered_bytes: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    overflowed: bool = False
    # Only runs of this namespace; None: of every one. Filtered here, so other
    # namespaces' events never fill (and overflow) this watcher's buffer.
    namespace: str | None = None

    def offer(self, workflow_id: str, events: list[tuple[events_pb2.Event, int]]) -> None:
        if self.overflowed or (self.workflow_id and workflow_id != self.workflow_id):
            return
        if self.namespace is not None and split_workflow_key(workflow_id)[0] != self.namespace:
            return
        taken = False
        for event, size in events:
            if self.kinds and event.kind not in self.kinds:
                continue
            if self.buffered_bytes + size > self.limit_bytes:
                # Ended: what it holds goes now, not when the reader wakes.
                self.overflowed = True
                self.buffer.clear()
                self.buffered_bytes = 0
                break
            self.buffer.append((event, size))
            self.buffered_bytes += size
            taken = True
        if taken or self.overflowed:  # a watcher of other kinds sleeps on
            self.ready.set()

    def _take(self) -> list[events_pb2.Event]:
        batch: list[events_pb2.Event] = []
        size = 0
        while self.buffer and (not batch or size + self.buffer[0][1] <= BATCH_BYTES):
            event, event_size = self.buffer.popleft()
            batch.append(event)
            size += event_size
        self.buffered_bytes -= size
        return batch

    async def batches(self) -> AsyncIterator[list[events_pb2.Event]]:
        """What was published since the last batch, as it comes; ends the
        subscription when the caller stops."""
        try:
            while True:
                if self.buffer:
                    yield self._take()
                    continue
                if self.overflowed:
                    raise ResourceExhausted(
                        f"this watcher fell more than {self.limit_bytes} bytes of events behind "
                        "(runner option --limit watch_buffer_bytes=N) and was ended; call "
                        "WatchRuns again for live events, and catch up on each run with "
                        "WatchRun from the last sequence you saw (after_sequence)",
                        reason=Reason.WATCHER_TOO_SLOW,
                    )
                self.ready.clear()
                await self.ready.wait()
        finally:
            self._close(self)


class EventHub:
    def __init__(
        self,
        tail_size: int = 512,
        subscriber_bytes: int = 16 * 1024 * 1024,
        tail_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        self._tail_size = tail_size
        self._tail_bytes = tail_bytes
        self._subscriber_bytes = subscriber_bytes
        self._runs: dict[str, _RunTail] = {}
        self._subscribers: set[Subscription] = set()
        self._watchers: dict[str, int] = {}  # run id -> watchers following it

    def _tail(self, run_id: str) -> _RunTail:
        tail = self._runs.get(run_id)
        if tail is None:
            tail = self._runs[run_id] = _RunTail()
        return tail

    def publish(self, run_id: str, workflow_id: str, events: list[events_pb2.Event]) -> None:
        """Announce events that are committed, in sequence order."""
        if not events:
            return
        sized = [(e, e.ByteSize()) for e in events]
        for subscriber in self._subscribers:
            subscriber.offer(workflow_id, sized)
        tail = self._tail(run_id)
        tail.extend(sized, self._tail_size, self._tail_bytes)
        tail.last_sequence = events[-1].sequence
        tail.changed.set()
        tail.changed = asyncio.Event()
        if ends_run(events[-1]):
            # Finished runs are served from the store; waiters already woke.
            del self._runs[run_id]

    @contextlib.contextmanager
    def watching(self, run_id: str) -> Iterator[None]:
        """Count a watcher of the run while the block runs (see `pace`)."""
        self._watchers[run_id] = self._watchers.get(run_id, 0) + 1
        try:
            yield
        finally:
            left = self._watchers.pop(run_id) - 1
            if left:
                self._watchers[run_id] = left

    def pace(self, run_id: str) -> float:
        """Seconds a watcher of the run leaves between two live responses."""
        others = self._watchers.get(run_id, 1) - 1
        return min(PACE_MAX, others * PACE_PER_WATCHER)

    def encoded(self, event: events_pb2.Event) -> bytes:
        """The event's bytes: serialised once while it is in its run's tail,
        however many watchers send it."""
        tail = self._runs.get(event.run_id)
        if tail is None or not tail.holds(event.sequence):
            return event.SerializeToString()
        data = tail.encoded.get(event.sequence)
        if data is None:
            data = tail.encoded[event.sequence] = event.SerializeToString()
        return data

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
        if fresh:
            try:
                stored = await stored_last_sequence()
            except BaseException:
                # The run is gone (deleted): keep no tail for it.
                if self._runs.get(run_id) is tail and not tail.last_sequence:
                    self.forget(run_id)
                raise
            if stored > after_sequence:
                return
        await changed.wait()

    def wake(self, run_id: str) -> None:
        """Another runner committed events of the run (runners sharing a
        database): drop what this hub holds of it, stale now, and wake its
        waiters, who then read the new events from the store."""
        self.forget(run_id)

    def wake_all(self) -> None:
        """`wake` every run: commits elsewhere may have gone unannounced."""
        for run_id in list(self._runs):
            self.forget(run_id)

    def forget(self, run_id: str) -> None:
        """The run was deleted: wake whoever waits on it, keep nothing of it."""
        tail = self._runs.pop(run_id, None)
        if tail is not None:
            tail.changed.set()

    def subscribe_all(
        self,
        workflow_id: str = "",
        kinds: Collection[events_pb2.EventKind] = (),
        namespace: str | None = None,
    ) -> Subscription:
        """Live events of every run (or one workflow's runs, or one namespace's)
        from now on."""
        subscription = Subscription(
            workflow_id,
            frozenset(kinds),
            self._subscriber_bytes,
            self._subscribers.discard,
            namespace=namespace,
        )
        self._subscribers.add(subscription)
        return subscription
