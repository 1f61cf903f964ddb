"""When a schedule fires, and what it does then: pure functions of its spec,
where it stands and the time, so each decision is unit-tested without a clock.

Times are seconds since the Unix epoch. Fire times are whole seconds (cron
fires on minutes, intervals are whole seconds), which keeps the run id of a
fire time (`run_id_of`) exact.
"""

from __future__ import annotations

import enum
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from croniter import croniter
from google.protobuf.duration_pb2 import Duration

from stepline.v1 import runner_pb2

R = runner_pb2
# A fire time is late, and so missed, once this much (at most) has passed
# since it (after its jitter): half the period, at most a minute.
MAX_GRACE = 60.0


class Trigger(Protocol):
    def after(self, t: float) -> float:
        """The first fire time strictly after `t`."""
        ...

    def at_or_before(self, t: float) -> float | None:
        """The last fire time at or before `t` (None: there is none)."""
        ...


@dataclass(frozen=True)
class Interval:
    """Every `seconds`, at multiples of it since the epoch."""

    seconds: int

    def after(self, t: float) -> float:
        return float((math.floor(t / self.seconds) + 1) * self.seconds)

    def at_or_before(self, t: float) -> float | None:
        return float(math.floor(t / self.seconds) * self.seconds)


@dataclass(frozen=True)
class Cron:
    """A cron expression read in a time zone (croniter does the reading)."""

    expression: str
    zone: ZoneInfo

    def after(self, t: float) -> float:
        start = datetime.fromtimestamp(t, self.zone)
        return float(croniter(self.expression, start).get_next(float))

    def at_or_before(self, t: float) -> float | None:
        # get_prev is strictly before its start; fire times are whole minutes.
        start = datetime.fromtimestamp(math.floor(t) + 0.5, self.zone)
        return float(croniter(self.expression, start).get_prev(float))


def trigger_of(spec: runner_pb2.ScheduleSpec) -> Trigger:
    """The trigger of a checked spec."""
    if spec.WhichOneof("trigger") == "cron":
        return Cron(spec.cron, ZoneInfo(spec.time_zone or "UTC"))
    return Interval(int(spec.interval.seconds))


def seconds_of(duration: Duration) -> float:
    return duration.seconds + duration.nanos / 1e9


def run_id_of(schedule_id: str, fire: float) -> str:
    """The id of the run for a fire time: the same after any restart."""
    return f"{schedule_id}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(fire))}"


def delay_of(schedule_id: str, fire: float, jitter: float) -> float:
    """The fire time's jitter: a fixed pseudo-random share of `jitter`, so a
    restart waits as long as the runner before it would have."""
    if not jitter:
        return 0.0
    digest = hashlib.sha256(f"{schedule_id}@{fire:.0f}".encode()).digest()
    return jitter * int.from_bytes(digest[:8], "big") / 2**64


def grace(trigger: Trigger, fire: float) -> float:
    """How late a fire time may start and still count as on time."""
    return min(MAX_GRACE, (trigger.after(fire) - fire) / 2)


@dataclass(frozen=True)
class Due:
    """The fire time to act on now, whether it is late (missed), and the
    fire time to wait for after it."""

    fire: float
    late: bool
    next_fire: float


def due(
    trigger: Trigger, next_fire: float, now: float, delay: Callable[[float], float]
) -> Due | None:
    """The latest fire time from `next_fire` on whose moment (fire time plus
    its delay) has come by `now`; earlier ones are passed over. None: none has."""
    latest = trigger.at_or_before(now)
    if latest is None or latest < next_fire:
        return None
    if latest + delay(latest) > now:  # jittered past now: the one before it, if due
        before = trigger.at_or_before(latest - 1)
        if before is None or before < next_fire:
            return None
        latest = before
    late = now - (latest + delay(latest)) > grace(trigger, latest)
    return Due(latest, late, trigger.after(latest))


class Action(enum.Enum):
    START = "start"
    WAIT = "wait"  # QUEUE overlap: start once the last run ended
    SKIP = "skip"


def decide(
    late: bool,
    catch_up: runner_pb2.ScheduleCatchUp,
    overlap: runner_pb2.ScheduleOverlap,
    last_run_going: bool,
    one_waiting: bool,
) -> tuple[Action, str]:
    """What a due fire time does, and why when it starts nothing."""
    if late and catch_up != R.SCHEDULE_CATCH_UP_ONE:
        return Action.SKIP, "missed (the runner was stopped or busy); catch-up policy NONE"
    if not last_run_going or overlap == R.SCHEDULE_OVERLAP_ALLOW:
        return Action.START, ""
    if overlap == R.SCHEDULE_OVERLAP_QUEUE and not one_waiting:
        return Action.WAIT, ""
    if overlap == R.SCHEDULE_OVERLAP_QUEUE:
        return Action.SKIP, "the last run has not ended and a fire time already waits for it"
    return Action.SKIP, "the last run has not ended (overlap policy SKIP)"


def wake_at(schedule: runner_pb2.Schedule, jitter: float) -> float:
    """When the scheduler should look at the schedule again."""
    fire = float(schedule.next_fire_time.seconds)
    return fire + delay_of(schedule.spec.schedule_id, fire, jitter)
