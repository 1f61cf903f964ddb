"""`Moments`: what the scheduler keeps in memory of the schedules, when each
active one is due (an id and a moment: bounded by the schedules the runner
holds, `Limits.schedules_in_all`, whatever their inputs weigh), which wait
for their last run to end, and when a start that failed for now is tried
again.

A schedule is looked at once its moment and its retry have come: its key,
the later of the two. The keys are in a heap, so a wake costs the schedules
due then (log n each), not a scan of every one; an entry whose schedule's
key changed since is dropped when it reaches the top, and the heap is
rebuilt when such entries outnumber the live ones. Those waiting for their
last run are looked at on every wake (a run ending pokes the scheduler).

No I/O and no clock: `schedules.py` tells it what it read and stored.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from stepline.v1 import runner_pb2

from .schedule_times import delay_of, seconds_of


class Moments:
    def __init__(self) -> None:
        # Schedule id -> the moment of its next fire time (jitter included).
        self._moments: dict[str, float] = {}
        self._waiting: set[str] = set()  # those with a fire time waiting (QUEUE)
        self._retry_at: dict[str, float] = {}
        # Schedule id -> its key (the later of its moment and retry), and the
        # heap of (key, id); an entry is live while its key is the id's.
        self._keys: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    def ids(self) -> list[str]:
        return list(self._moments)

    def remember(self, schedule: runner_pb2.Schedule) -> None:
        """Note when an active schedule is due next (or forget a paused one)."""
        spec = schedule.spec
        if schedule.paused:
            self._moments.pop(spec.schedule_id, None)
            self._waiting.discard(spec.schedule_id)
            self._rekey(spec.schedule_id)
            return
        fire = float(schedule.next_fire_time.seconds)
        delay = delay_of(spec.schedule_id, fire, seconds_of(spec.jitter))
        self._moments[spec.schedule_id] = fire + delay
        if schedule.HasField("waiting_fire_time"):
            self._waiting.add(spec.schedule_id)
        else:
            self._waiting.discard(spec.schedule_id)
        self._rekey(spec.schedule_id)

    def forget(self, schedule_id: str) -> None:
        self._retry_at.pop(schedule_id, None)
        self._moments.pop(schedule_id, None)
        self._waiting.discard(schedule_id)
        self._rekey(schedule_id)

    def retry(self, schedule_id: str, at: float) -> None:
        """A start failed for now: look at the schedule again `at` that moment."""
        self._retry_at[schedule_id] = at
        self._rekey(schedule_id)

    def retried(self, schedule_id: str) -> None:
        if self._retry_at.pop(schedule_id, None) is not None:
            self._rekey(schedule_id)

    def due(self, now: float) -> Sequence[str]:
        """Active schedules whose moment came, or that wait for their last run
        to end, unless a retry's moment has not come; by key."""
        found: list[tuple[float, str]] = []
        seen: set[str] = set()
        while self._heap and self._heap[0][0] <= now:
            key, schedule_id = heapq.heappop(self._heap)
            if self._keys.get(schedule_id) == key and schedule_id not in seen:
                found.append((key, schedule_id))
                seen.add(schedule_id)
        for entry in found:  # still due until it is remembered anew
            heapq.heappush(self._heap, entry)
        ids = [i for _, i in found]
        waiting = [
            i
            for i in self._waiting
            if i not in seen and i in self._moments and self._retry_at.get(i, 0.0) <= now
        ]
        return ids + sorted(waiting)

    def next_wake(self, default: float) -> float:
        """The earliest moment, or retry of a start that failed for now."""
        while self._heap and self._keys.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else default

    def _rekey(self, schedule_id: str) -> None:
        moment = self._moments.get(schedule_id)
        if moment is None:
            self._keys.pop(schedule_id, None)
            return
        key = max(moment, self._retry_at.get(schedule_id, moment))
        if self._keys.get(schedule_id) == key:
            return  # its live entry stands
        self._keys[schedule_id] = key
        heapq.heappush(self._heap, (key, schedule_id))
        if len(self._heap) > 2 * len(self._keys) + 64:  # mostly dead entries: rebuild
            self._heap = [(k, i) for i, k in self._keys.items()]
            heapq.heapify(self._heap)
