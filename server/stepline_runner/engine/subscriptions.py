"""Watchers of all runs (dashboards): a live buffer each, bounded in bytes.

The hub offers every commit to each subscription as it publishes, in
batches made once for every subscriber that watches the same kinds
(`replies.Batch`, with the bytes of the response that holds them); one that
falls further behind than its buffer is ended with a message saying how to
catch up. Every batch handed out is bounded in bytes, so what waits in the
transport for a slow reader stays small. `Dashboards` holds them all and
wakes them together, at a pace.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from stepline.v1 import events_pb2

from ..namespaces import split_workflow_key
from ..statuses import leaves_waiting_for_input
from .errors import Reason, ResourceExhausted
from .pacing import Pacer, pace_of
from .replies import BATCH_BYTES, Batch, batched


@dataclass(eq=False)  # kept in a set, by identity
class Subscription:
    """One watcher of all runs: a buffer, bounded in bytes, that the hub fills
    as it publishes, and `ready`, which the hub sets (at its pace) once the
    buffer holds something or overflowed."""

    workflow_id: str
    kinds: frozenset[events_pb2.EventKind]
    limit_bytes: int
    _close: Callable[[Subscription], None]
    buffer: deque[Batch] = field(default_factory=deque)
    buffered_bytes: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    overflowed: bool = False
    # Only runs of this namespace; None: of every one. Filtered here, so other
    # namespaces' events never fill (and overflow) this watcher's buffer.
    namespace: str | None = None

    def watches(self, workflow_id: str) -> bool:
        """Whether events of a run of `workflow_id` are for this watcher."""
        if self.workflow_id and workflow_id != self.workflow_id:
            return False
        return self.namespace is None or split_workflow_key(workflow_id)[0] == self.namespace

    def offer(self, batches: list[Batch]) -> bool:
        """Buffer `batches` (of a run it watches, of the kinds it watches);
        whether it took any or overflowed (so its reader has something to
        wake for)."""
        if self.overflowed:
            return False
        for batch in batches:
            if self.buffered_bytes + len(batch.wire) > self.limit_bytes:
                # Ended: what it holds goes now, not when the reader wakes.
                self.overflowed = True
                self.buffer.clear()
                self.buffered_bytes = 0
                return True
            self.buffer.append(batch)
            self.buffered_bytes += len(batch.wire)
        return bool(batches)  # a watcher of other kinds sleeps on

    def _take(self) -> Batch:
        taken = [self.buffer.popleft()]
        size = len(taken[0].wire)
        while self.buffer and size + len(self.buffer[0].wire) <= BATCH_BYTES:
            taken.append(self.buffer.popleft())
            size += len(taken[-1].wire)
        self.buffered_bytes -= size
        if len(taken) == 1:
            return taken[0]  # as made for every subscriber
        return Batch(itertools.chain.from_iterable(taken), b"".join(b.wire for b in taken))

    async def batches(self) -> AsyncIterator[Batch]:
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


class Dashboards:
    """Every watcher of all runs: the hub offers them each commit, and they
    are woken together at a pace (`pacing.py`) of their number."""

    def __init__(self, subscriber_bytes: int) -> None:
        self._subscriber_bytes = subscriber_bytes
        self._subscribers: set[Subscription] = set()
        self._unread: set[Subscription] = set()  # took events since their last wake
        self._pacer = Pacer()

    def __bool__(self) -> bool:
        return bool(self._subscribers)

    def subscribe(
        self, workflow_id: str, kinds: frozenset[events_pb2.EventKind], namespace: str | None
    ) -> Subscription:
        subscription = Subscription(
            workflow_id, kinds, self._subscriber_bytes, self._unsubscribe, namespace=namespace
        )
        self._subscribers.add(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)
        self._unread.discard(subscription)

    def offer(
        self,
        workflow_id: str,
        events: list[events_pb2.Event],
        frame_of: Callable[[events_pb2.Event], bytes],
    ) -> None:
        """Hand one run's committed events to its watchers here."""
        # The batches of each set of kinds watched, made once for all its watchers.
        made: dict[frozenset[events_pb2.EventKind], list[Batch]] = {}
        for subscriber in self._subscribers:
            if not subscriber.watches(workflow_id):
                continue
            kinds = subscriber.kinds
            batches = made.get(kinds)
            if batches is None:
                chosen = [e for e in events if e.kind in kinds] if kinds else events
                batches = made[kinds] = batched(chosen, frame_of)
            if subscriber.offer(batches):
                self._unread.add(subscriber)
        if not self._unread:
            return
        # Nothing follows soon, and whoever answers the run's requests may be
        # one of them (as for a run's watchers, hub.publish): at once.
        if leaves_waiting_for_input(events):
            self._pacer.now(self._wake)
        else:
            self._pacer.due(pace_of(len(self._subscribers)), self._wake)

    def _wake(self) -> None:
        for subscriber in self._unread:
            subscriber.ready.set()
        self._unread.clear()
