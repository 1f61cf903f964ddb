"""When schedules fire and what they do then: fire times, jitter, missed fire
times, overlap and catch-up decisions (pure functions, no clock)."""

from __future__ import annotations

import calendar
from zoneinfo import ZoneInfo

import pytest

from stepline.v1 import runner_pb2 as R
from stepline_runner.engine.schedule_times import (
    Action,
    Cron,
    Interval,
    decide,
    delay_of,
    due,
    grace,
    run_id_of,
)


def utc(text: str) -> float:
    """'2026-03-29 01:30' as seconds since the epoch, in UTC."""
    day, clock = text.split()
    y, mo, d = map(int, day.split("-"))
    h, mi = map(int, clock.split(":"))
    return float(calendar.timegm((y, mo, d, h, mi, 0)))


def no_delay(fire: float) -> float:
    return 0.0


def test_intervals_fire_at_multiples_of_themselves_since_the_epoch() -> None:
    every = Interval(10)
    assert every.after(1000.0) == 1010.0  # strictly after
    assert every.after(1003.5) == 1010.0
    assert every.at_or_before(1000.0) == 1000.0
    assert every.at_or_before(1009.9) == 1000.0


def test_cron_reads_its_expression_in_its_time_zone_across_daylight_saving() -> None:
    paris = Cron("30 2 * * *", ZoneInfo("Europe/Paris"))
    # 29 March 2026: Paris skips from 02:00 to 03:00, so 02:30 does not exist
    # that day; croniter fires at the first moment after the gap.
    first = paris.after(utc("2026-03-28 12:00"))
    second = paris.after(first)
    assert first == utc("2026-03-29 01:00")  # 03:00 CEST
    assert second == utc("2026-03-30 00:30")  # 02:30 CEST
    assert paris.at_or_before(second) == second
    assert paris.at_or_before(second - 1) == first
    assert Cron("0 * * * *", ZoneInfo("UTC")).after(utc("2026-01-01 10:00")) == utc(
        "2026-01-01 11:00"
    )


def test_a_run_id_names_the_schedule_and_the_fire_time_in_utc() -> None:
    assert run_id_of("nightly", utc("2026-03-29 01:00")) == "nightly-20260329T010000Z"


def test_jitter_is_a_fixed_share_of_its_bound_per_fire_time() -> None:
    delays = [delay_of("s", 1000.0 + 60 * k, 30.0) for k in range(50)]
    assert all(0 <= d < 30 for d in delays)
    assert len(set(delays)) == 50  # spread out...
    assert delay_of("s", 1000.0, 30.0) == delays[0]  # ...and the same after a restart
    assert delay_of("other", 1000.0, 30.0) != delays[0]
    assert delay_of("s", 1000.0, 0.0) == 0.0


def test_grace_is_half_the_period_at_most_a_minute() -> None:
    assert grace(Interval(10), 1000.0) == 5.0
    assert grace(Interval(3600), 3600.0) == 60.0


def test_nothing_is_due_before_the_next_fire_time() -> None:
    assert due(Interval(10), 1010.0, 1009.0, no_delay) is None


def test_a_fire_time_on_time_is_due_and_the_next_is_after_it() -> None:
    found = due(Interval(10), 1010.0, 1010.2, no_delay)
    assert found is not None
    assert (found.fire, found.late, found.next_fire) == (1010.0, False, 1020.0)


def test_after_downtime_only_the_latest_fire_time_counts_late_or_not() -> None:
    # Stopped from 1010 to 1093: 1010..1080 passed; 1090 is 3 s old (on time).
    found = due(Interval(10), 1010.0, 1093.0, no_delay)
    assert found is not None and (found.fire, found.late, found.next_fire) == (1090, False, 1100)
    # Back at 1098: 1090 is 8 s old, more than half the period: missed.
    found = due(Interval(10), 1010.0, 1098.0, no_delay)
    assert found is not None and (found.fire, found.late) == (1090.0, True)


def test_a_jittered_fire_time_waits_for_its_delay() -> None:
    def delay(fire: float) -> float:
        return 4.0

    assert due(Interval(10), 1010.0, 1013.0, delay) is None
    found = due(Interval(10), 1010.0, 1014.5, delay)
    assert found is not None and (found.fire, found.late) == (1010.0, False)
    # 1020 is not due until 1024: the fire time before it still is.
    found = due(Interval(10), 1010.0, 1021.0, delay)
    assert found is not None and (found.fire, found.next_fire) == (1010.0, 1020.0)


NONE, ONE = R.SCHEDULE_CATCH_UP_NONE, R.SCHEDULE_CATCH_UP_ONE
SKIP, QUEUE, ALLOW = R.SCHEDULE_OVERLAP_SKIP, R.SCHEDULE_OVERLAP_QUEUE, R.SCHEDULE_OVERLAP_ALLOW


@pytest.mark.parametrize(
    ("late", "catch_up", "overlap", "going", "waiting", "action"),
    [
        (False, NONE, SKIP, False, False, Action.START),
        (True, NONE, ALLOW, False, False, Action.SKIP),  # missed, no catch-up
        (True, R.SCHEDULE_CATCH_UP_UNSPECIFIED, ALLOW, False, False, Action.SKIP),
        (True, ONE, SKIP, False, False, Action.START),  # the one missed run
        (False, NONE, SKIP, True, False, Action.SKIP),
        (False, NONE, R.SCHEDULE_OVERLAP_UNSPECIFIED, True, False, Action.SKIP),
        (False, NONE, ALLOW, True, False, Action.START),
        (False, NONE, QUEUE, True, False, Action.WAIT),
        (False, NONE, QUEUE, True, True, Action.SKIP),  # one waits already
        (False, NONE, QUEUE, False, False, Action.START),
    ],
)
def test_overlap_and_catch_up_decide_what_a_due_fire_time_does(
    late: bool,
    catch_up: R.ScheduleCatchUp,
    overlap: R.ScheduleOverlap,
    going: bool,
    waiting: bool,
    action: Action,
) -> None:
    decided, why = decide(late, catch_up, overlap, going, waiting)
    assert decided is action
    assert bool(why) == (action is Action.SKIP)
