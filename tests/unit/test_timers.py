"""The pure parts of durable timers (arming, order, what is due), the status
they give a run, the refusals of `collect`, and the wheel that wakes runs."""

from __future__ import annotations

import asyncio

import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from stepline.v1 import events_pb2 as E
from stepline.v1 import executor_pb2
from stepline.v1 import payload_pb2 as P
from stepline_runner.engine.superstep import CollectError, collect
from stepline_runner.engine.timers import (
    MAX_DELAY,
    InvalidTimer,
    TimerWheel,
    armed,
    due_at,
    merged,
    next_due,
    split_due,
)
from stepline_runner.statuses import settled

NOW = 1_800_000_000.0


def sent(name: str, delay: float | None = None, at: float | None = None) -> P.Message:
    message = P.Message(payload=P.Payload(type_name=name))
    if delay is not None:
        message.delay.CopyFrom(Duration(seconds=int(delay), nanos=round(delay % 1 * 1e9)))
    if at is not None:
        message.deliver_at.CopyFrom(Timestamp(seconds=int(at)))
    return message


def test_a_delay_becomes_a_time_by_the_runners_clock() -> None:
    timer = armed(sent("a", delay=2.5), NOW)
    assert due_at(timer) == NOW + 2.5 and not timer.HasField("delay")
    assert due_at(armed(sent("b", at=NOW + 60), NOW)) == NOW + 60
    assert due_at(armed(sent("c", at=5), NOW)) == NOW  # the past is now
    assert due_at(armed(sent("d", delay=MAX_DELAY), NOW)) == NOW + MAX_DELAY


@pytest.mark.parametrize(
    ("message", "says"),
    [
        (sent("a", delay=-1), "delay is -1s: it must be 0 or more"),
        (P.Message(delay=Duration(nanos=-1)), "delay is -1e-09s"),
        (sent("a", delay=MAX_DELAY + 1), "due 31622401s from now, past the bound"),
        (sent("a", at=NOW * 1000), "past the bound of 31622400s (366 days)"),
        (sent("a", delay=1, at=NOW), "set delay or deliver_at, not both"),
    ],
)
def test_delays_out_of_bounds_are_refused(message: P.Message, says: str) -> None:
    with pytest.raises(InvalidTimer, match=says.replace("(", r"\(").replace(")", r"\)")):
        armed(message, NOW)


def test_timers_keep_time_order_then_send_order() -> None:
    late, early, also_early = (
        armed(sent(n, delay=d), NOW) for n, d in (("l", 9), ("e", 1), ("e2", 1))
    )
    timers = merged([late, early], [also_early])
    assert [t.payload.type_name for t in timers] == ["e", "e2", "l"]
    due, rest = split_due(timers, NOW + 1)
    assert [t.payload.type_name for t in due] == ["e", "e2"] and rest == [late]
    assert next_due(rest) == NOW + 9 and next_due([]) is None
    assert merged([], []) == [] and split_due([], NOW) == ([], [])
    assert [t.payload.type_name for t in merged([late, early], [])] == ["e", "l"]
    assert [t.payload.type_name for t in merged([], [late, early])] == ["e", "l"]


def test_only_timers_left_is_a_status_of_its_own() -> None:
    assert settled(False, False, True) == E.RUN_STATUS_WAITING_FOR_TIMERS
    assert settled(False, True, True) == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS
    assert settled(True, False, True) == E.RUN_STATUS_RUNNING
    assert settled(False, False) == E.RUN_STATUS_COMPLETED


def test_collect_keeps_sent_timers_apart_and_refuses_bad_ones() -> None:
    answer = executor_pb2.ExecuteResponse(sent=[sent("now"), sent("later", delay=3)])
    collected = collect("r", 4, [("x", answer)], {}, {}, NOW)
    assert [m.payload.type_name for m in collected.sent] == ["now"]
    (timer,) = collected.timers
    assert (timer.source_id, due_at(timer)) == ("x", NOW + 3)

    bad = executor_pb2.ExecuteResponse(sent=[sent("T" * 500, delay=-2)])
    with pytest.raises(CollectError) as refused:
        collect("r", 4, [("x", bad)], {}, {}, NOW)
    error = refused.value.error
    assert (error.type, error.executor_id) == ("InvalidTimer", "x")
    assert "delay is -2s" in error.message and len(error.message) < 250


async def test_the_wheel_wakes_each_run_once_at_its_latest_arming() -> None:
    woken: list[str] = []
    done = asyncio.Event()

    async def wake(run_id: str) -> None:
        woken.append(run_id)
        if len(woken) == 2:
            done.set()

    wheel = TimerWheel(clock=lambda: NOW)
    wheel.start(wake)
    wheel.arm("later", NOW + 3600)
    wheel.arm("a", NOW + 3600)
    wheel.arm("a", NOW - 1)  # armed again: only this time counts
    wheel.arm("b", NOW)
    await asyncio.wait_for(done.wait(), 10)
    assert sorted(woken) == ["a", "b"]
    assert wheel.due("later") == NOW + 3600 and wheel.due("a") is None
    await wheel.close()
