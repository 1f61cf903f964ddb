"""Superstep semantics (architecture.md, 1-6) on the engine with in-process executors."""

from __future__ import annotations

import asyncio

from stepline import WorkflowBuilder
from stepline.executor import Executor, WorkflowContext, handler
from stepline.testing import InProcessRunner, of_kind, outputs
from stepline.v1 import events_pb2 as E
from tests.support.runs import line, self_loop


class Splitter(Executor):
    @handler
    async def split(self, n: int, ctx: WorkflowContext) -> None:
        for i in range(n):
            await ctx.send_message(f"m{i}")


class Recorder(Executor):
    @handler
    async def record(self, text: str, ctx: WorkflowContext) -> None:
        await ctx.yield_output({"step": ctx.superstep, "text": text})


async def test_one_execute_per_executor_per_superstep_in_send_order(
    harness: InProcessRunner,
) -> None:
    harness.host("svc", {"split": Splitter, "rec": Recorder})
    await harness.runner.register_workflow(line("w", "split", "rec").build())

    events = await harness.run("w", 4)

    assert outputs(events) == [{"step": 2, "text": f"m{i}"} for i in range(4)]
    executes = [c for c in harness.executors.calls if c[1] == "Execute"]
    assert len(executes) == 2  # split in superstep 1, rec once in superstep 2


barrier: asyncio.Barrier | None = None


class Meeter(Executor):
    """Passes only if its peer runs at the same time."""

    @handler
    async def meet(self, n: int, ctx: WorkflowContext) -> None:
        assert barrier is not None
        async with asyncio.timeout(5):
            await barrier.wait()
        await ctx.yield_output(ctx.executor_id)


class Start(Executor):
    @handler
    async def start(self, n: int, ctx: WorkflowContext) -> None:
        await ctx.send_message(n)


async def test_different_executors_of_a_superstep_run_concurrently(
    harness: InProcessRunner,
) -> None:
    global barrier
    barrier = asyncio.Barrier(2)
    harness.host("svc", {"start": Start, "meet": Meeter})
    await harness.runner.register_workflow(
        WorkflowBuilder("w")
        .add_executor("start", "svc")
        .add_executor("left", "svc", type="meet")
        .add_executor("right", "svc", type="meet")
        .add_fan_out("start", ["left", "right"])
        .set_start_executor("start")
        .build()
    )

    events = await harness.run("w", 1)

    assert sorted(outputs(events)) == ["left", "right"]
    assert of_kind(events, E.EVENT_KIND_RUN_FAILED) == []


class Writer(Executor):
    @handler
    async def write(self, n: int, ctx: WorkflowContext) -> None:
        await ctx.set_shared_state("k", n)
        await ctx.yield_output({"writer_sees": ctx.get_shared_state("k", int)})
        await ctx.send_message(n)


class Reader(Executor):
    @handler
    async def read(self, n: int, ctx: WorkflowContext) -> None:
        await ctx.yield_output({"reader_sees": ctx.get_shared_state("k", int)})


async def test_shared_state_writes_are_visible_from_the_next_superstep(
    harness: InProcessRunner,
) -> None:
    harness.host("svc", {"writer": Writer, "reader": Reader})
    await harness.runner.register_workflow(line("w", "writer", "reader").build())

    events = await harness.run("w", 42)

    assert outputs(events) == [{"writer_sees": None}, {"reader_sees": 42}]


class Looper(Executor):
    @handler
    async def loop(self, n: int, ctx: WorkflowContext) -> None:
        await ctx.send_message(n + 1)


async def test_superstep_limit_fails_the_run_clearly(harness: InProcessRunner) -> None:
    harness.host("svc", {"loop": Looper})
    await harness.runner.register_workflow(self_loop("w", "loop", max_supersteps=5).build())

    events = await harness.run("w", 0)

    (failed,) = of_kind(events, E.EVENT_KIND_RUN_FAILED)
    assert failed.error.type == "SuperstepLimitExceeded"
    assert "5 supersteps" in failed.error.message
    assert events[-1].status == E.RUN_STATUS_FAILED
    run = await harness.get_run(events[0].run_id)
    assert run.status == E.RUN_STATUS_FAILED and run.superstep == 5


class Flaky(Executor):
    fail = True

    def __init__(self) -> None:
        self.seen = 0

    @handler
    async def step(self, n: int, ctx: WorkflowContext) -> None:
        self.seen += 1
        if n == 2 and Flaky.fail:
            raise ValueError("two is not allowed today")
        if n < 3:
            await ctx.send_message(n + 1)
        else:
            await ctx.yield_output(self.seen)

    def on_checkpoint_save(self) -> dict[str, int]:
        return {"seen": self.seen}

    def on_checkpoint_restore(self, state: dict[str, int]) -> None:
        self.seen = state["seen"]


async def test_executor_error_fails_the_run_and_it_resumes_from_the_last_good_checkpoint(
    harness: InProcessRunner,
) -> None:
    Flaky.fail = True
    harness.host("svc", {"flaky": Flaky})
    await harness.runner.register_workflow(self_loop("w", "flaky").build())

    events = await harness.run("w", 0)

    (failure,) = of_kind(events, E.EVENT_KIND_EXECUTOR_FAILED)
    assert failure.executor_id == "flaky" and failure.error.type == "ValueError"
    assert "two is not allowed today" in failure.error.message
    assert "Traceback" in failure.error.traceback
    assert len(of_kind(events, E.EVENT_KIND_RUN_FAILED)) == 1
    run_id = events[0].run_id
    checkpoints, _ = await harness.runner.list_checkpoints(run_id, 0, "")
    assert [c.superstep for c in checkpoints] == [0, 1, 2]  # none for failed superstep 3

    Flaky.fail = False
    await harness.runner.resume(checkpoints[-1].checkpoint_id)
    rest = await harness.events(run_id, after_sequence=events[-1].sequence)

    assert outputs(rest) == [4]  # seen=2 restored, superstep 3 re-run, then superstep 4
    assert rest[-1].status == E.RUN_STATUS_COMPLETED
    # As a real runner's WatchRun: from the start to the run's last end, not its first.
    assert await harness.events(run_id) == events + rest


class Shouter(Executor):
    @handler
    async def shout(self, n: int, ctx: WorkflowContext) -> None:
        await ctx.yield_output(f"out-{n}")
        await ctx.send_message(n)


async def test_a_routing_failure_logs_nothing_the_superstep_produced(
    harness: InProcessRunner,
) -> None:
    harness.host("svc", {"shout": Shouter})
    await harness.runner.register_workflow(
        WorkflowBuilder("w")
        .add_executor("a", "svc", type="shout")
        .add_executor("b", "svc", type="shout")
        .add_edge("a", "b", condition="message.y > 0")  # an int has no field y
        .set_start_executor("a")
        .build()
    )
    events = await harness.run("w", 1)
    (failed,) = of_kind(events, E.EVENT_KIND_RUN_FAILED)
    assert failed.error.type == "RoutingError"

    run = await harness.get_run(events[0].run_id)
    await harness.runner.resume(run.latest_checkpoint_id)
    again = await harness.events(run.run_id, events[-1].sequence)

    assert outputs(events) == outputs(again) == []  # the superstep will run again
