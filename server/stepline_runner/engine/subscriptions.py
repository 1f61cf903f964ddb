"""Watchers of all runs (dashboards): a live buffer each, bounded in bytes.

The hub offers every committed event to each subscription as it publishes;
one that falls further behind than its buffer is ended with a message saying
how to catch up. Events are held with their frames (`replies.frame`, made
once by the hub for every subscriber), and every batch handed out is bounded
in bytes, so what waits in the transport for a slow reader stays small.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field

from stepline.v1 import events_pb2

from ..namespaces import split_workflow_key
from .errors import Reason, ResourceExhausted
from .replies import BATCH_BYTES, Batch

# An event and its frame.
Framed = tuple[events_pb2.Event, bytes]


@dataclass(eq=False)  # kept in a set, by identity
class Subscription:
    """One watcher of all runs: a buffer, bounded in bytes, that the hub fills
    as it publishes, and `ready`, which the hub sets (at its pace) once the
    buffer holds something or overflowed."""

    workflow_id: str
    kinds: Collection[events_pb2.EventKind]
    limit_bytes: int
    _close: Callable[[Subscription], None]
    buffer: deque[Framed] = field(default_factory=deque)
    buffered_bytes: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    overflowed: bool = False
    # Only runs of this namespace; None: of every one. Filtered here, so other
    # namespaces' events never fill (and overflow) this watcher's buffer.
    namespace: str | None = None

    def offer(self, workflow_id: str, events: list[Framed]) -> bool:
        """Buffer what of `events` (of one run) this watcher watches; whether
        it took any or overflowed (so its reader has something to wake for)."""
        if self.overflowed or (self.workflow_id and workflow_id != self.workflow_id):
            return False
        if self.namespace is not None and split_workflow_key(workflow_id)[0] != self.namespace:
            return False
        taken = False
        for event, data in events:
            if self.kinds and event.kind not in self.kinds:
                continue
            if self.buffered_bytes + len(data) > self.limit_bytes:
                # Ended: what it holds goes now, not when the reader wakes.
                self.overflowed = True
                self.buffer.clear()
                self.buffered_bytes = 0
                return True
            self.buffer.append((event, data))
            self.buffered_bytes += len(data)
            taken = True
        return taken  # a watcher of other kinds sleeps on

    def _take(self) -> Batch:
        events: list[events_pb2.Event] = []
        frames: list[bytes] = []
        size = 0
        while self.buffer and (not events or size + len(self.buffer[0][1]) <= BATCH_BYTES):
            event, data = self.buffer.popleft()
            events.append(event)
            frames.append(data)
            size += len(data)
        self.buffered_bytes -= size
        return Batch(events, b"".join(frames))

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
