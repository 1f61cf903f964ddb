"""Timers on the engine with in-process executors: what the SDK refuses to
send, a timer beside an open request, and a wake-up after a cancel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stepline import WorkflowBuilder, payloads
from stepline.context import WorkflowContext as Context
from stepline.executor import Executor, WorkflowContext, handler, response_handler
from stepline.testing import InProcessRunner
from stepline.v1 import events_pb2 as E


async def test_the_sdk_sends_a_delay_or_a_time_and_refuses_the_rest() -> None:
    ctx: Context[int] = Context(
        run_id="r", executor_id="x", superstep=1, attempt=1, shared_state={}
    )
    await ctx.send_message(1, delay=1.5)
    await ctx.send_message(2, delay=timedelta(minutes=1))
    await ctx.send_message(3, at=datetime(2030, 1, 1, tzinfo=UTC))
    first, second, third = ctx.result.sent
    assert first.delay.ToNanoseconds() == 1_500_000_000
    assert second.delay.ToTimedelta() == timedelta(minutes=1)
    assert third.deliver_at.ToDatetime(UTC) == datetime(2030, 1, 1, tzinfo=UTC)
    for kwargs, says in [
        ({"delay": -1}, "delay is -1s: it must be from 0 to 366 days"),
        ({"delay": float("nan")}, "delay is nans"),
        ({"delay": timedelta(days=400)}, "delay is 3.456e\\+07s"),
        ({"delay": 1, "at": datetime(2030, 1, 1, tzinfo=UTC)}, "delay or at, not both"),
        ({"at": datetime(2030, 1, 1)}, "aware datetime"),
    ]:
        with pytest.raises(ValueError, match=says):
            await ctx.send_message(4, **kwargs)  # type: ignore[arg-type]
    assert len(ctx.result.sent) == 3  # nothing half-sent


class AskAndNap(Executor):
    """Asks for input and, at once, sends itself a message 50 ms later."""

    @handler
    async def start(self, n: int, ctx: WorkflowContext) -> None:
        await ctx.request_info(n, int)
        await ctx.send_message(f"woke {n}", delay=0.05)

    @handler
    async def woke(self, text: str, ctx: WorkflowContext) -> None:
        await ctx.yield_output(text)

    @response_handler
    async def answered(self, request: int, answer: int, ctx: WorkflowContext) -> None:
        await ctx.yield_output(request + answer)


def workflow() -> WorkflowBuilder:
    return (
        WorkflowBuilder("nap")
        .add_executor("a", "svc", type="napper")
        .add_edge("a", "a")
        .set_start_executor("a")
    )


async def events_until(
    harness: InProcessRunner, run_id: str, last: E.RunStatus, count: int = 1
) -> list[E.Event]:
    """The run's events until its status became `last` for the `count`-th time."""
    events: list[E.Event] = []
    async for batch in harness.runner.watch(run_id):
        events += batch
        if len(statuses(events, last)) >= count:
            return events
    raise AssertionError(f"the run ended: {events}")


def statuses(events: list[E.Event], only: E.RunStatus | None = None) -> list[E.RunStatus]:
    changed = [e.status for e in events if e.kind == E.EVENT_KIND_STATUS_CHANGED]
    return [s for s in changed if only is None or s == only]


async def test_a_timer_fires_while_a_request_stays_open(harness: InProcessRunner) -> None:
    harness.host("svc", {"napper": AskAndNap})
    await harness.runner.register_workflow(workflow().build())
    run = await harness.runner.start_run("nap", payloads.encode(7))

    # Waiting for input with a timer set; the timer wakes it, it waits again.
    idle = E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS
    events = await events_until(harness, run.run_id, idle, 2)
    assert statuses(events) == [
        E.RUN_STATUS_RUNNING,
        idle,
        E.RUN_STATUS_RUNNING_WITH_PENDING_REQUESTS,
        idle,
    ]
    (output,) = [e for e in events if e.kind == E.EVENT_KIND_OUTPUT]
    assert payloads.decode(output.data, str) == "woke 7"
    checkpoint = await harness.runner.get_checkpoint(
        (await harness.get_run(run.run_id)).latest_checkpoint_id, include_content=True
    )
    assert not checkpoint.content.timers and len(checkpoint.content.pending_requests) == 1


async def test_a_wake_up_after_a_cancel_does_nothing(harness: InProcessRunner) -> None:
    harness.host("svc", {"napper": AskAndNap})
    await harness.runner.register_workflow(workflow().build())
    run = await harness.runner.start_run("nap", payloads.encode(1))
    await events_until(harness, run.run_id, E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS)
    await harness.runner.cancel_run(run.run_id)
    before = await harness.get_run(run.run_id)

    await harness.runner.waker.wake(run.run_id)  # as the wheel would, once due

    after = await harness.get_run(run.run_id)
    assert after.status == E.RUN_STATUS_CANCELLED
    assert after.last_sequence == before.last_sequence
