"""Checks of a schedule a client asks for: each fault refused with
INVALID_ARGUMENT (reason INVALID_SCHEDULE unless an id or payload is to
blame) naming the field, quoting at most a short prefix of what was sent."""

from __future__ import annotations

import itertools
import re
import zoneinfo
from typing import NoReturn

from croniter import croniter

from stepline.v1 import runner_pb2

from ..namespaces import split_run_key, valid_namespace
from .errors import InvalidArgument, Reason
from .schedule_times import Trigger, seconds_of, trigger_of
from .validation import check_payload, short

R = runner_pb2
SCHEDULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
MIN_INTERVAL = 1
MAX_INTERVAL = 366 * 24 * 3600
MAX_JITTER = 3600.0
CRON_LENGTH = 256
ZONE_LENGTH = 64
MACROS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
# The first letters of croniter's random and hashed fields (no month or day name
# starts with either).
RANDOM = frozenset("RH")
# Fire times looked at to find a cron expression's shortest period.
PERIOD_SAMPLES = 16


def check_schedule_key(key: str) -> None:
    """A schedule id, after "<namespace>/" outside default (keyed as runs are)."""
    namespace, schedule_id = split_run_key(key)
    check_schedule_id(schedule_id if valid_namespace(namespace) else key)


def check_schedule_id(schedule_id: str) -> None:
    if not SCHEDULE_ID.fullmatch(schedule_id):
        raise InvalidArgument(
            f"schedule_id {short(schedule_id)} must be 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            reason=Reason.INVALID_ID,
            context={"field": "schedule_id"},
        )


def check_spec(spec: runner_pb2.ScheduleSpec, now: float) -> Trigger:
    """Refuse a malformed spec; the trigger of a good one."""
    check_schedule_key(spec.schedule_id)
    which = spec.WhichOneof("trigger")
    if which is None:
        _refuse("trigger", "set cron (an expression) or interval (a duration)")
    if which == "cron":
        _check_cron(spec.cron)
        _check_zone(spec.time_zone)
    else:
        _check_interval(spec)
    if spec.overlap not in R.ScheduleOverlap.values():
        _refuse("overlap", f"{spec.overlap} is not a ScheduleOverlap value")
    if spec.catch_up not in R.ScheduleCatchUp.values():
        _refuse("catch_up", f"{spec.catch_up} is not a ScheduleCatchUp value")
    check_payload(spec.input, "input")
    trigger = trigger_of(spec)
    _check_jitter(spec, period(trigger, spec.cron, now))
    return trigger


def period(trigger: Trigger, cron: str, now: float) -> float:
    """The shortest gap between the trigger's next fire times (refusing a cron
    expression that never fires, such as February 30th)."""
    try:
        fires = [trigger.after(now)]
        for _ in range(PERIOD_SAMPLES):
            fires.append(trigger.after(fires[-1]))
    except Exception:  # croniter's "no such date" (a ValueError), or worse
        _refuse("cron", f"{short(cron)} never fires")
    return min(b - a for a, b in itertools.pairwise(fires))


def _check_cron(expression: str) -> None:
    if len(expression) > CRON_LENGTH:
        _refuse("cron", f"{short(expression)} is longer than {CRON_LENGTH} characters")
    fields = expression.split()
    macro = len(fields) == 1 and fields[0].lower() in MACROS
    if not macro and len(fields) != 5:
        _refuse(
            "cron",
            f"{short(expression)} has {len(fields)} fields; expected 5 (minute hour "
            "day-of-month month day-of-week) or one of " + ", ".join(sorted(MACROS)),
        )
    if any(item[:1].upper() in RANDOM for f in fields for item in f.split(",")):
        # croniter draws R's value afresh each time it reads the expression:
        # fire times (and so run ids) would change from one look to the next.
        _refuse(
            "cron",
            f"{short(expression)}: random (R) and hashed (H) fields are not supported; "
            "write the minute and hour you want",
        )
    try:
        valid = croniter.is_valid(expression)
    except Exception:  # it should say False, but it reads what anyone sends
        valid = False
    if not valid:
        _refuse("cron", f"{short(expression)} is not a valid cron expression")


def _check_zone(name: str) -> None:
    if not name:
        return
    if len(name) > ZONE_LENGTH:
        _refuse("time_zone", f"{short(name)} is longer than {ZONE_LENGTH} characters")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        _refuse("time_zone", f"{short(name)} is not an IANA time zone (such as Europe/Paris)")


def _check_interval(spec: runner_pb2.ScheduleSpec) -> None:
    interval = spec.interval
    if interval.nanos:
        _refuse("interval", "must be whole seconds")
    if not MIN_INTERVAL <= interval.seconds <= MAX_INTERVAL:
        _refuse(
            "interval",
            f"must be {MIN_INTERVAL} s to {MAX_INTERVAL} s (366 days), not {interval.seconds} s",
        )


def _check_jitter(spec: runner_pb2.ScheduleSpec, shortest: float) -> None:
    jitter = spec.jitter
    if jitter.seconds < 0 or jitter.nanos < 0 or jitter.nanos >= 10**9:
        _refuse("jitter", "must be a non-negative duration")
    value = seconds_of(jitter)
    if value > MAX_JITTER:
        _refuse("jitter", f"must be at most {MAX_JITTER:g} s, not {value:g} s")
    if value and value >= shortest:
        _refuse(
            "jitter",
            f"{value:g} s must be shorter than the schedule's period ({shortest:g} s), or one "
            "run's delay would pass the next fire time",
        )


def _refuse(field: str, problem: str) -> NoReturn:
    raise InvalidArgument(
        f"schedule {field}: {problem}",
        reason=Reason.INVALID_SCHEDULE,
        context={"field": field},
    )
