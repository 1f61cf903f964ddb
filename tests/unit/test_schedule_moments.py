"""The scheduler's moments (review S3): the heap says what is due and when to
wake exactly as a scan of every schedule would, over random sequences of
what the scheduler tells it, and keeps no more entries than a few per
schedule however often they change."""

from __future__ import annotations

import random

from stepline.v1 import runner_pb2 as R
from stepline_runner.engine.schedule_moments import Moments


class Scan:
    """The model: the scan of every schedule that Moments replaced."""

    def __init__(self) -> None:
        self.moments: dict[str, float] = {}
        self.waiting: set[str] = set()
        self.retry_at: dict[str, float] = {}

    def remember(self, schedule: R.Schedule) -> None:
        schedule_id = schedule.spec.schedule_id
        if schedule.paused:
            self.moments.pop(schedule_id, None)
            self.waiting.discard(schedule_id)
            return
        self.moments[schedule_id] = float(schedule.next_fire_time.seconds)  # no jitter
        if schedule.HasField("waiting_fire_time"):
            self.waiting.add(schedule_id)
        else:
            self.waiting.discard(schedule_id)

    def forget(self, schedule_id: str) -> None:
        self.retry_at.pop(schedule_id, None)
        self.moments.pop(schedule_id, None)
        self.waiting.discard(schedule_id)

    def due(self, now: float) -> list[str]:
        return [
            i
            for i, m in self.moments.items()
            if (m <= now or i in self.waiting) and self.retry_at.get(i, 0.0) <= now
        ]

    def next_wake(self, default: float) -> float:
        return min(
            (max(m, self.retry_at.get(i, m)) for i, m in self.moments.items()), default=default
        )


def schedule(rng: random.Random, schedule_id: str) -> R.Schedule:
    result = R.Schedule(paused=rng.random() < 0.1)
    result.spec.schedule_id = schedule_id
    result.next_fire_time.FromSeconds(rng.randrange(100))
    if rng.random() < 0.2:
        result.waiting_fire_time.FromSeconds(rng.randrange(100))
    return result


def test_the_heap_says_what_a_scan_of_every_schedule_would() -> None:
    rng = random.Random(15)
    moments, scan = Moments(), Scan()
    ids = [f"s{i}" for i in range(30)]
    for _ in range(20_000):
        op, schedule_id, now = rng.random(), rng.choice(ids), float(rng.randrange(110))
        if op < 0.4:
            given = schedule(rng, schedule_id)
            moments.remember(given)
            scan.remember(given)
        elif op < 0.5:
            moments.forget(schedule_id)
            scan.forget(schedule_id)
        elif op < 0.65:
            moments.retry(schedule_id, now)
            scan.retry_at[schedule_id] = now
        elif op < 0.75:
            moments.retried(schedule_id)
            scan.retry_at.pop(schedule_id, None)
        else:
            assert sorted(moments.due(now)) == sorted(scan.due(now))
            assert len(moments.due(now)) == len(set(moments.due(now)))
            assert moments.next_wake(-1.0) == scan.next_wake(-1.0)
    assert sorted(moments.ids()) == sorted(scan.moments)


def test_entries_stay_a_few_per_schedule_however_often_they_change() -> None:
    moments = Moments()
    for t in range(100_000):
        given = R.Schedule()
        given.spec.schedule_id = f"s{t % 10}"
        given.next_fire_time.FromSeconds(t)
        moments.remember(given)
        moments.retry(given.spec.schedule_id, t + 0.5)
    assert len(moments._heap) <= 2 * 10 + 64 + 1
    assert moments.next_wake(0.0) == 99_990.5
    assert moments.due(99_995.0) == [f"s{t % 10}" for t in range(99_990, 99_995)]
