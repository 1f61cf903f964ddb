"""Pacing of a run's watchers (see hub.py): how often they are woken, and
the timer that wakes them no sooner than that."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

# Seconds between two wake-ups of a run's watchers, per watcher of the run, and at most.
# Waking N watchers costs N responses, and a response costs gRPC (both ends)
# some 50-300 us of CPU whatever it holds (more on a loaded machine): at 2 ms
# per watcher, waking them takes a few percent of the runner's time however
# many there are, where at 0.5 ms it took 15-40% and made the run slower,
# hence longer, hence woken more often (bench README, Session 7).
PACE_PER_WATCHER = 0.002
PACE_MAX = 0.2


def pace_of(watchers: int) -> float:
    """Seconds between two wake-ups of `watchers` watchers."""
    return min(PACE_MAX, max(0, watchers - 1) * PACE_PER_WATCHER)


def _loop() -> asyncio.AbstractEventLoop | None:
    """The running loop; None outside one (where nobody waits to be paced)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


@dataclass(eq=False)
class Pacer:
    """Calls `wake` now or, if it woke its watchers less than `pace` seconds
    ago, once that much time has passed. It keeps no `wake` of its own: a
    run's tail holds its pacer, and a pacer holding the tail's `show` would
    make a cycle that only the cyclic GC frees, so every finished run's tail
    (its events) would wait in memory for a full collection. Only a pending
    timer holds `wake`, and it is cancelled when the run ends or is forgotten."""

    woke_at: float = float("-inf")
    timer: asyncio.TimerHandle | None = None

    def due(self, pace: float, wake: Callable[[], None]) -> None:
        if self.timer is not None:
            return  # they wake soon, and see this too
        loop = _loop()
        if loop is None or loop.time() >= self.woke_at + pace:
            self.now(wake)
        else:
            self.timer = loop.call_at(self.woke_at + pace, self.now, wake)

    def later(self, pace: float, wake: Callable[[], None]) -> None:
        """Their number grew: a wake-up that is due comes `pace` seconds after
        the last, if that is later than it would have."""
        loop = _loop()
        if loop is None or self.timer is None or self.woke_at + pace <= self.timer.when():
            return
        self.timer.cancel()
        self.timer = loop.call_at(self.woke_at + pace, self.now, wake)

    def now(self, wake: Callable[[], None]) -> None:
        self.cancel()
        if (loop := _loop()) is not None:
            self.woke_at = loop.time()
        wake()

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


@dataclass(eq=False)
class Heard:
    """The pace of a watched run's wake-ups by news of another runner's
    commits, and the waiters the next is to wake: each waits on the `changed`
    of a tail dropped as stale."""

    pacer: Pacer = field(default_factory=Pacer)
    waiters: list[asyncio.Event] = field(default_factory=list)

    def wake(self) -> None:
        waiters, self.waiters = self.waiters, []
        for changed in waiters:
            changed.set()

    def end(self) -> None:
        self.pacer.cancel()
        self.wake()
