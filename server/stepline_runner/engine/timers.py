"""Durable timers: messages sent with a delay (or for a time), kept in the
run's checkpoint until due, and `TimerWheel`, which wakes waiting runs when
their first timer is due.

A timer is a `Message` with `deliver_at` set by the runner's clock. When it
is due it is routed as if sent then, and delivered in the next superstep.
A run with only timers left holds nothing but its checkpoint (status
WAITING_FOR_TIMERS) and an entry here; after a restart the supervisor arms
the wheel again from the checkpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from stepline.v1 import payload_pb2

log = logging.getLogger(__name__)

MAX_DELAY = 366 * 86400.0  # a year and a day, in seconds
# The wheel looks at the clock at least this often, so a clock set forward
# wakes runs within a minute.
LONGEST_NAP = 60.0
Wake = Callable[[str], Coroutine[Any, Any, None]]


class InvalidTimer(ValueError):
    """A sent message's delay or time the runner refuses; the run fails."""


def is_timer(message: payload_pb2.Message) -> bool:
    return message.HasField("delay") or message.HasField("deliver_at")


def due_at(message: payload_pb2.Message) -> float:
    """When a timer (as the runner keeps it) is due, in seconds since the epoch."""
    return message.deliver_at.seconds + message.deliver_at.nanos / 1e9


def armed(message: payload_pb2.Message, now: float) -> payload_pb2.Message:
    """The timer the runner keeps for a message sent with `delay` or
    `deliver_at` at `now`: `deliver_at` set, `delay` cleared. Raises
    `InvalidTimer` (its text says why, boundedly) for a negative delay, both
    fields set, or a time more than `MAX_DELAY` ahead."""
    if message.HasField("delay") and message.HasField("deliver_at"):
        raise InvalidTimer("set delay or deliver_at, not both")
    if message.HasField("delay"):
        delay = message.delay
        seconds = delay.seconds + delay.nanos / 1e9
        if delay.seconds < 0 or delay.nanos < 0:
            raise InvalidTimer(f"delay is {seconds:g}s: it must be 0 or more")
        at = now + seconds
    else:
        at = due_at(message)
    if at - now > MAX_DELAY:
        raise InvalidTimer(
            f"it is due {at - now:.0f}s from now, past the bound of {MAX_DELAY:.0f}s (366 days)"
        )
    timer = payload_pb2.Message()
    timer.CopyFrom(message)
    timer.ClearField("delay")
    # A time in the past is due now.
    timer.deliver_at.FromNanoseconds(int(max(at, now) * 1e9))
    return timer


def merged(
    timers: Sequence[payload_pb2.Message], new: Sequence[payload_pb2.Message]
) -> list[payload_pb2.Message]:
    """Both lists as one, the earliest first; equal times keep send order."""
    if not timers and not new:  # most supersteps
        return []
    return sorted([*timers, *new], key=due_at)  # stable


def split_due(
    timers: Sequence[payload_pb2.Message], now: float
) -> tuple[list[payload_pb2.Message], list[payload_pb2.Message]]:
    """(the timers due at `now`, the others), each in order."""
    if not timers:  # most supersteps
        return [], []
    due = [t for t in timers if due_at(t) <= now]
    return due, [t for t in timers if due_at(t) > now]


def next_due(timers: Sequence[payload_pb2.Message]) -> float | None:
    return min((due_at(t) for t in timers), default=None)


class TimerWheel:
    """Wakes a run (`wake(run_id)`) once its earliest timer is due. One task
    sleeps until the earliest of all; a run armed again replaces its time."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._due: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._waking: set[asyncio.Task[None]] = set()
        self._wake: Wake | None = None

    def start(self, wake: Wake) -> None:
        self._wake = wake

    def due(self, run_id: str) -> float | None:
        """When the wheel wakes the run, if it is armed."""
        return self._due.get(run_id)

    def arm(self, run_id: str, at: float) -> None:
        self._due[run_id] = at
        heapq.heappush(self._heap, (at, run_id))
        self._changed.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="timer-wheel")

    async def _loop(self) -> None:
        while True:
            now = self._clock()
            while self._heap and self._heap[0][0] <= now:
                at, run_id = heapq.heappop(self._heap)
                if self._due.get(run_id) == at:  # else armed again since
                    del self._due[run_id]
                    self._spawn(run_id)
            nap = min(self._heap[0][0] - now, LONGEST_NAP) if self._heap else None
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                # Until the earliest timer, or until one is armed.
                await asyncio.wait_for(self._changed.wait(), nap)

    def _spawn(self, run_id: str) -> None:
        assert self._wake is not None, "TimerWheel.start comes before the first arm"
        task = asyncio.create_task(self._wake(run_id), name=f"timer-{run_id}")
        self._waking.add(task)
        task.add_done_callback(self._woken)

    def _woken(self, task: asyncio.Task[None]) -> None:
        self._waking.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("waking a run for its timer failed", exc_info=task.exception())

    async def close(self) -> None:
        tasks = [t for t in (self._task, *self._waking) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
