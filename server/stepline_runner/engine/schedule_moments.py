"""`Moments`: what the scheduler keeps in memory of the schedules, when each
active one is due (an id and a moment: bounded by the number of schedules,
whatever their inputs weigh), which wait for their last run to end, and when
a start that failed for now is tried again.

No I/O and no clock: `schedules.py` tells it what it read and stored.
"""

from __future__ import annotations

from collections.abc import Sequence

from stepline.v1 import runner_pb2

from .schedule_times import delay_of, seconds_of


class Moments:
    def __init__(self) -> None:
        # Schedule id -> the moment of its next fire time (jitter included),
        # so the schedules whose time has not come cost a lookup each.
        self._moments: dict[str, float] = {}
        self._waiting: set[str] = set()  # those with a fire time waiting (QUEUE)
        self._retry_at: dict[str, float] = {}

    def ids(self) -> list[str]:
        return list(self._moments)

    def remember(self, schedule: runner_pb2.Schedule) -> None:
        """Note when an active schedule is due next (or forget a paused one)."""
        spec = schedule.spec
        if schedule.paused:
            self._moments.pop(spec.schedule_id, None)
            self._waiting.discard(spec.schedule_id)
            return
        fire = float(schedule.next_fire_time.seconds)
        delay = delay_of(spec.schedule_id, fire, seconds_of(spec.jitter))
        self._moments[spec.schedule_id] = fire + delay
        if schedule.HasField("waiting_fire_time"):
            self._waiting.add(spec.schedule_id)
        else:
            self._waiting.discard(spec.schedule_id)

    def forget(self, schedule_id: str) -> None:
        self._retry_at.pop(schedule_id, None)
        self._moments.pop(schedule_id, None)
        self._waiting.discard(schedule_id)

    def retry(self, schedule_id: str, at: float) -> None:
        """A start failed for now: look at the schedule again `at` that moment."""
        self._retry_at[schedule_id] = at

    def retried(self, schedule_id: str) -> None:
        self._retry_at.pop(schedule_id, None)

    def due(self, now: float) -> Sequence[str]:
        """Active schedules whose moment came, or that wait for their last run
        to end. The others cost a float comparison each: the scheduler looks
        at every schedule whenever one is due, and cron arithmetic takes
        milliseconds."""
        return [
            i
            for i, moment in self._moments.items()
            if (moment <= now or i in self._waiting) and self._retry_at.get(i, 0.0) <= now
        ]

    def next_wake(self, default: float) -> float:
        """The earliest moment, or retry of a start that failed for now."""
        return min(
            (max(m, self._retry_at.get(i, m)) for i, m in self._moments.items()), default=default
        )
