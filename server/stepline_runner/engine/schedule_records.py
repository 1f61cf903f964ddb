"""The pure parts of a stored schedule's record: what a fire stores on top
of a pause or resume that came meanwhile (`progress`), a skipped fire time
(`skipped`), why a creation was refused (`refusal`), the not-found error,
timestamps and copies.

No I/O, no locks and no clock here: `schedules.py` (the calls and the
scheduler) uses these on the `Schedule` messages it reads and stores.
"""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from stepline.v1 import runner_pb2

from ..namespaces import split_run_key
from .errors import AlreadyExists, NotFound, Reason, ResourceExhausted, SteplineError
from .limits import Limits
from .validation import short

REASON_LENGTH = 300


# What a fire changes on its own; a pause or resume changes the rest.
PROGRESS = ("last_fire_time", "last_run_id", "runs_started", "fires_skipped", "last_skip_reason")


def control(schedule: runner_pb2.Schedule) -> tuple[bool, int, bool, int, str]:
    """What a pause or resume changes (a fire never does)."""
    return (
        schedule.paused,
        schedule.next_fire_time.seconds,
        schedule.HasField("waiting_fire_time"),
        schedule.waiting_fire_time.seconds,
        schedule.principal,
    )


def progress(
    read: runner_pb2.Schedule, fired: runner_pb2.Schedule, current: runner_pb2.Schedule
) -> runner_pb2.Schedule:
    """What a fire stores: the schedule as it `fired` (from the one it
    `read`), unless a pause or resume changed it meanwhile (`current`);
    then `current` with the fire's progress, its next fire time and paused
    state left as the pause or resume set them."""
    if control(current) == control(read):
        return fired
    recorded = copy_of(current)
    for name in PROGRESS:
        recorded.ClearField(name)
    for name in PROGRESS:
        if name == "last_fire_time":
            if fired.HasField(name):
                recorded.last_fire_time.CopyFrom(fired.last_fire_time)
        else:
            setattr(recorded, name, getattr(fired, name))
    return recorded


def skipped(schedule: runner_pb2.Schedule, fire: float, why: str) -> None:
    schedule.last_fire_time.FromSeconds(int(fire))
    schedule.last_skip_reason = why[:REASON_LENGTH]
    schedule.fires_skipped += 1


def not_found(schedule_id: str) -> NotFound:
    return NotFound(
        f"no schedule {short(schedule_id)}",
        reason=Reason.SCHEDULE_NOT_FOUND,
        context={"schedule_id": schedule_id},
    )


def refusal(schedule_id: str, taken: bool, held: int, limits: Limits) -> SteplineError:
    """Why the store inserted no schedule: its id `taken`, its namespace
    holding its limit (`held` in it), else the runner holding its own."""
    if taken:
        return AlreadyExists(
            f"schedule {schedule_id!r} exists; choose another schedule_id",
            reason=Reason.SCHEDULE_EXISTS,
            context={"schedule_id": schedule_id},
        )
    if held >= limits.schedules:
        return too_many(schedule_id, limits.schedules)
    return too_many_in_all(limits.schedules_in_all)


def too_many(schedule_id: str, limit: int) -> ResourceExhausted:
    """A namespace holds as many schedules as the runner allows one: the
    others' are theirs (a namespace never learns of them)."""
    namespace = split_run_key(schedule_id)[0]
    return ResourceExhausted(
        f"namespace {namespace!r} holds {limit} schedules, as many as the runner allows "
        "a namespace; delete some (or raise the runner's --limit schedules=N)",
        reason=Reason.TOO_MANY_SCHEDULES,
        context={"namespace": namespace, "limit": str(limit)},
    )


def too_many_in_all(limit: int) -> ResourceExhausted:
    """The runner holds as many schedules as it allows in all namespaces
    together: which namespaces hold them is theirs."""
    return ResourceExhausted(
        f"the runner holds {limit} schedules in all, as many as it allows (ten times "
        "--limit schedules=N, at most 1000000); delete some, or ask its operator",
        reason=Reason.TOO_MANY_SCHEDULES,
        context={"limit": str(limit)},
    )


def stamp(t: float) -> Timestamp:
    result = Timestamp()
    result.FromNanoseconds(int(t * 1e9))
    return result


def copy_of(schedule: runner_pb2.Schedule) -> runner_pb2.Schedule:
    result = runner_pb2.Schedule()
    result.CopyFrom(schedule)
    return result
