"""Live delivery of committed events to watchers.

Watchers pull: each reads what it has not seen from a short in-memory tail of
the run, or from the store when it fell further behind, then waits for the
next commit. Nothing is queued per watcher, so a stalled one costs no memory
and never slows the run or the other watchers.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from stepline.v1 import events_pb2

TERMINAL_STATUSES = frozenset(
    {
        events_pb2.RUN_STATUS_COMPLETED,
        events_pb2.RUN_STATUS_FAILED,
        events_pb2.RUN_STATUS_CANCELLED,
    }
)


def is_terminal(event: events_pb2.Event) -> bool:
    """The event that ends a run: a change to a final status."""
    return event.kind == events_pb2.EVENT_KIND_STATUS_CHANGED and event.status in TERMINAL_STATUSES


@dataclass
class _RunTail:
    events: deque[events_pb2.Event]
    last_sequence: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class EventHub:
    def __init__(self, tail_size: int = 512) -> None:
        self._tail_size = tail_size
        self._runs: dict[str, _RunTail] = {}

    def _tail(self, run_id: str) -> _RunTail:
        tail = self._runs.get(run_id)
        if tail is None:
            tail = self._runs[run_id] = _RunTail(deque(maxlen=self._tail_size))
        return tail

    def publish(self, run_id: str, events: list[events_pb2.Event]) -> None:
        """Announce events that are committed, in sequence order."""
        if not events:
            return
        tail = self._tail(run_id)
        tail.events.extend(events)
        tail.last_sequence = events[-1].sequence
        tail.changed.set()
        tail.changed = asyncio.Event()
        if is_terminal(events[-1]):
            # Finished runs are served from the store; waiters already woke.
            del self._runs[run_id]

    def recent(self, run_id: str, after_sequence: int) -> list[events_pb2.Event] | None:
        """Events after `after_sequence` if the tail holds all of them, else None."""
        tail = self._runs.get(run_id)
        if tail is None or not tail.events or tail.last_sequence <= after_sequence:
            return None
        first = tail.events[0].sequence
        if first > after_sequence + 1:
            return None
        return list(tail.events)[after_sequence + 1 - first :]

    async def wait(self, run_id: str, after_sequence: int) -> None:
        """Return once an event after `after_sequence` may have been committed."""
        tail = self._tail(run_id)
        if tail.last_sequence > after_sequence:
            return
        await tail.changed.wait()
