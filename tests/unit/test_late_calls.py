"""LateCalls: what a retry, a rollback and a ResumeRun wait for before they
put a run's executors back, and what they are told when a call outlived
twice its deadline."""

from __future__ import annotations

import asyncio

import pytest

from stepline.v1 import executor_pb2
from stepline_runner.engine import late_calls
from stepline_runner.engine.errors import FailedPrecondition
from stepline_runner.engine.late_calls import LateCall, LateCalls, refuse_resume
from stepline_runner.engine.ports import ExecutorCallError

pytestmark = pytest.mark.asyncio


def late(
    run_id: str, executor_id: str = "x"
) -> tuple[LateCall, asyncio.Future[executor_pb2.ExecuteResponse]]:
    """A late call whose end the test decides, through the future."""
    ends: asyncio.Future[executor_pb2.ExecuteResponse] = asyncio.get_running_loop().create_future()

    async def call() -> executor_pb2.ExecuteResponse:
        return await ends

    task = asyncio.ensure_future(call())
    return LateCall(run_id, executor_id, "127.0.0.1:1", 2, 1.0, task), ends


def past_its_deadline(ends: asyncio.Future[executor_pb2.ExecuteResponse]) -> None:
    ends.set_exception(ExecutorCallError("127.0.0.1:1", "DEADLINE_EXCEEDED", ""))


async def test_a_call_that_ends_in_time_is_waited_for_then_forgotten() -> None:
    calls = LateCalls()
    call, ends = late("r")
    calls.add(call)
    waiting = asyncio.ensure_future(calls.outlived("r"))
    await asyncio.sleep(0)  # lets the waiter start: it must not return before the end
    assert not waiting.done() and calls.pending("r")
    ends.set_result(executor_pb2.ExecuteResponse())
    assert await waiting == []
    assert not calls.pending("r")


async def test_one_that_outlived_its_deadline_is_told_once() -> None:
    calls = LateCalls()
    call, ends = late("r")
    calls.add(call)
    past_its_deadline(ends)
    (outlived,) = await calls.outlived("r")
    assert outlived is call
    error = outlived.error("not retried")
    assert (error.type, error.executor_id, error.non_retryable) == (
        "ExecuteDeadlineExceeded",
        "x",
        True,
    )
    assert error.message == (
        "executor 'x' at 127.0.0.1:1: Execute of superstep 2 did not return within 2s "
        "(twice its execute_timeout); not retried"
    )
    assert await calls.outlived("r") == []


async def test_a_waiter_cancelled_forgets_nothing() -> None:
    calls = LateCalls()
    call, ends = late("r")
    calls.add(call)
    waiting = asyncio.ensure_future(calls.outlived("r"))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    past_its_deadline(ends)
    assert await calls.outlived("r") == [call]


async def test_only_the_executors_asked_for_are_waited_for() -> None:
    calls = LateCalls()
    a, a_ends = late("r", "a")
    b, _ = late("r", "b")
    calls.add(a)
    calls.add(b)
    past_its_deadline(a_ends)
    assert await calls.outlived("r", ["a"]) == [a]
    assert calls.pending("r")  # b goes on
    b.task.cancel()
    await asyncio.gather(b.task, return_exceptions=True)
    assert not calls.pending("r")


async def test_a_resume_is_refused_once_after_settling() -> None:
    calls = LateCalls()
    call, ends = late("r")
    calls.add(call)
    settling = asyncio.ensure_future(calls.settled("r"))
    await asyncio.sleep(0)
    assert not settling.done()
    past_its_deadline(ends)
    await settling
    with pytest.raises(FailedPrecondition) as refused:
        refuse_resume(calls, "r")
    assert "may still be running" in str(refused.value)
    refuse_resume(calls, "r")  # told once


async def test_outlived_runs_are_bounded_in_flight_ones_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(late_calls, "MAX_OUTLIVED_RUNS", 2)
    calls = LateCalls()
    flying, _ = late("in-flight")
    calls.add(flying)
    for run_id in ("r1", "r2", "r3"):
        call, ends = late(run_id)
        calls.add(call)
        past_its_deadline(ends)
        await asyncio.gather(call.task, return_exceptions=True)
    assert [calls.pending(r) for r in ("in-flight", "r1", "r2", "r3")] == [True, False, False, True]
    flying.task.cancel()
    await asyncio.gather(flying.task, return_exceptions=True)
