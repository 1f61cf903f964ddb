"""Concurrency limits in the engine: queued runs start in order as slots free,
survive a restart, can be cancelled; a node's Execute calls pass a gate."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

import pytest

from stepline import WorkflowBuilder, payloads
from stepline.executor import Executor, WorkflowContext, handler
from stepline.testing import InProcessRunner, outputs
from stepline.v1 import events_pb2 as E
from stepline.v1 import workflow_pb2
from stepline_runner.engine.admission import check_limits, to_admit
from stepline_runner.engine.errors import FailedPrecondition, InvalidWorkflow, Reason
from stepline_runner.engine.gates import Gate, NodeGates
from tests.support.stores import harness_on_both_stores

__all__ = ["harness_on_both_stores"]  # every test here runs on SQLite and PostgreSQL


class Holder(Executor):
    """Yields its input once the test releases that value; records who entered."""

    entered: ClassVar[list[int]] = []
    arrived: ClassVar[asyncio.Event] = asyncio.Event()
    releases: ClassVar[defaultdict[int, asyncio.Event]] = defaultdict(asyncio.Event)

    open: ClassVar[bool] = False  # every value released, those to come too

    @classmethod
    def reset(cls) -> None:
        cls.entered, cls.arrived, cls.releases = [], asyncio.Event(), defaultdict(asyncio.Event)
        cls.open = False

    @handler
    async def hold(self, n: int, ctx: WorkflowContext) -> None:
        Holder.entered.append(n)
        Holder.arrived.set()
        if not Holder.open:
            await Holder.releases[n].wait()
        await ctx.yield_output(n)


@pytest.fixture(autouse=True)
def fresh() -> None:
    Holder.reset()


@pytest.fixture
async def env(harness: InProcessRunner) -> AsyncIterator[InProcessRunner]:
    yield harness
    await drained(harness)


async def drained(runner: InProcessRunner) -> None:
    """Release every run and wait for each to end, its driver's last commit
    and clean-up included: none is left committing to a closed database."""
    Holder.open = True
    for event in Holder.releases.values():
        event.set()
    runs, _ = await runner.runner.list_runs("w", 0, "")
    for run in runs:
        await runner.events(run.run_id)
        driver = runner.runner.runs.task(run.run_id)
        if driver is not None:
            await driver


def limited(limit: int) -> workflow_pb2.WorkflowDefinition:
    return (
        WorkflowBuilder("w", max_concurrent_runs=limit)
        .add_executor("h", "svc", type="holder")
        .set_start_executor("h")
        .build()
    )


async def entered(count: int) -> None:
    while len(Holder.entered) < count:
        Holder.arrived.clear()
        await Holder.arrived.wait()


async def status(env: InProcessRunner, run_id: str) -> int:
    return (await env.get_run(run_id)).status


async def test_runs_beyond_the_limit_queue_and_start_oldest_first(
    env: InProcessRunner,
) -> None:
    env.host("svc", {"holder": Holder})
    await env.runner.register_workflow(limited(2))
    runs = [await env.runner.start_run("w", payloads.encode(n), f"r{n}") for n in range(5)]
    await entered(2)

    assert [r.status for r in runs] == [E.RUN_STATUS_RUNNING] * 2 + [E.RUN_STATUS_QUEUED] * 3
    listed, _ = await env.runner.list_runs("w", 0, "", [E.RUN_STATUS_QUEUED])
    assert sorted(r.run_id for r in listed) == ["r2", "r3", "r4"]
    queued = (await env.store.read_events("r3", 0, 100))[-1]
    assert (queued.status, "max_concurrent_runs" in queued.message) == (E.RUN_STATUS_QUEUED, True)

    Holder.releases[1].set()  # r1 ends: r2 (the oldest queued) takes its slot
    assert outputs(await env.events("r1")) == [1]
    await entered(3)
    Holder.releases[0].set()
    await entered(4)
    assert Holder.entered == [0, 1, 2, 3]
    assert await status(env, "r4") == E.RUN_STATUS_QUEUED
    for n in (2, 3, 4):
        Holder.releases[n].set()
    assert outputs(await env.events("r4")) == [4]
    assert Holder.entered == [0, 1, 2, 3, 4]
    kinds = [(e.kind, e.status) for e in await env.events("r4")][:4]
    assert kinds == [
        (E.EVENT_KIND_RUN_STARTED, 0),
        (E.EVENT_KIND_STATUS_CHANGED, E.RUN_STATUS_QUEUED),
        (E.EVENT_KIND_STATUS_CHANGED, E.RUN_STATUS_RUNNING),
        (E.EVENT_KIND_SUPERSTEP_STARTED, 0),
    ]


async def test_a_raised_limit_starts_queued_runs_at_once(env: InProcessRunner) -> None:
    env.host("svc", {"holder": Holder})
    await env.runner.register_workflow(limited(1))
    for n in range(3):
        await env.runner.start_run("w", payloads.encode(n), f"r{n}")
    await entered(1)
    assert await status(env, "r1") == E.RUN_STATUS_QUEUED

    await env.runner.register_workflow(limited(2))  # no run ended: r1 starts anyway
    async with asyncio.timeout(30):
        await entered(2)
    assert Holder.entered == [0, 1]
    assert await status(env, "r2") == E.RUN_STATUS_QUEUED
    for n in range(3):
        Holder.releases[n].set()
    assert outputs(await env.events("r2")) == [2]


async def test_a_queued_run_can_be_cancelled_not_resumed_and_keeps_no_slot(
    env: InProcessRunner,
) -> None:
    env.host("svc", {"holder": Holder})
    await env.runner.register_workflow(limited(1))
    for n in range(3):
        await env.runner.start_run("w", payloads.encode(n), f"r{n}")
    await entered(1)
    queued = await env.get_run("r1")

    with pytest.raises(FailedPrecondition) as refused:
        await env.runner.resume(queued.latest_checkpoint_id)
    cancelled = await env.runner.cancel_run("r1")
    Holder.releases[0].set()
    Holder.releases[2].set()

    assert refused.value.reason == Reason.RUN_QUEUED
    assert cancelled.status == E.RUN_STATUS_CANCELLED
    assert outputs(await env.events("r2")) == [2]
    assert Holder.entered == [0, 2]  # r1 never ran


async def test_the_queue_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "stepline.db"
    async with await InProcessRunner.open(db) as first:
        first.host("svc", {"holder": Holder})
        await first.runner.register_workflow(limited(1))
        for n in range(3):
            await first.runner.start_run("w", payloads.encode(n), f"r{n}")
        await entered(1)
    Holder.reset()  # the executor service "restarts" too
    async with await InProcessRunner.open(db) as second:
        second.host("svc", {"holder": Holder})
        await second.runner.resume_unfinished()  # r0 resumes; r1, r2 wait their turn
        await entered(1)
        assert [await status(second, r) for r in ("r1", "r2")] == [E.RUN_STATUS_QUEUED] * 2
        for n in range(3):
            Holder.releases[n].set()
        assert outputs(await second.events("r2")) == [2]
        assert Holder.entered == [0, 1, 2]
        await drained(second)


async def test_a_start_with_the_same_id_and_input_returns_the_queued_run(
    env: InProcessRunner,
) -> None:
    env.host("svc", {"holder": Holder})
    await env.runner.register_workflow(limited(1))
    await env.runner.start_run("w", payloads.encode(0), "r0")
    first = await env.runner.start_run("w", payloads.encode(1), "r1")
    again = await env.runner.start_run("w", payloads.encode(1), "r1")
    await entered(1)

    assert (first.status, again.status) == (E.RUN_STATUS_QUEUED, E.RUN_STATUS_QUEUED)
    assert again.last_sequence == first.last_sequence  # nothing new was logged
    Holder.releases[0].set()
    Holder.releases[1].set()
    assert outputs(await env.events("r1")) == [1]


class Tally(Executor):
    """Adds its input to a total and counts down to 1 in a loop, yielding
    the total; a negative input holds the run (and its slot) until released."""

    hold: ClassVar[asyncio.Event] = asyncio.Event()

    def __init__(self) -> None:
        self.total = 0

    @handler
    async def add(self, n: int, ctx: WorkflowContext) -> None:
        if n < 0:
            Holder.arrived.set()
            await Tally.hold.wait()
            await ctx.yield_output(n)
            return
        self.total += n
        if n > 1:
            await ctx.send_message(n - 1)
        else:
            await ctx.yield_output(self.total)

    def on_checkpoint_save(self) -> dict[str, int]:
        return {"total": self.total}

    def on_checkpoint_restore(self, state: dict[str, int]) -> None:
        self.total = state["total"]


async def test_a_queued_fork_goes_on_from_its_executors_restored_states(
    env: InProcessRunner,
) -> None:
    Tally.hold = asyncio.Event()
    env.host("tally", {"tally": Tally})
    await env.runner.register_workflow(
        WorkflowBuilder("t", max_concurrent_runs=1)
        .add_executor("k", "tally", type="tally")
        .add_edge("k", "k")
        .set_start_executor("k")
        .build()
    )
    await env.runner.start_run("t", payloads.encode(3), "a")
    assert outputs(await env.events("a")) == [6]  # 3 + 2 + 1
    checkpoints, _ = await env.runner.list_checkpoints("a", 0, "")
    after_first = next(c for c in checkpoints if c.superstep == 1)  # total 3, 2 to come
    await env.runner.start_run("t", payloads.encode(-1), "h")
    await Holder.arrived.wait()  # h holds the slot

    fork = await env.runner.resume(after_first.checkpoint_id, new_run_id="f")
    assert fork.status == E.RUN_STATUS_QUEUED
    Tally.hold.set()
    assert outputs(await env.events("h")) == [-1]

    # Restored when it left the queue: 3 + 2 + 1 again, not 0 + 2 + 1.
    assert outputs(await env.events("f")) == [6]
    statuses = [e.status for e in await env.events("f") if e.status]
    assert statuses[:2] == [E.RUN_STATUS_QUEUED, E.RUN_STATUS_RUNNING]


class Worker(Executor):
    @handler
    async def work(self, seconds: float, ctx: WorkflowContext) -> None:
        await asyncio.sleep(seconds)  # the work a slow service does
        await ctx.yield_output(seconds)


async def test_the_execute_timeout_starts_once_the_node_limit_lets_the_call_be_made(
    env: InProcessRunner,
) -> None:
    """Three runs, one call at a time, each working 0.4 s under a 1 s
    execute_timeout: the third waits 0.8 s for its turn, yet does not time out."""
    env.host("slow", {"worker": Worker})
    await env.runner.register_workflow(
        WorkflowBuilder("x")
        .add_executor(
            "w",
            "slow",
            type="worker",
            max_concurrent_executes=1,
            execute_timeout=timedelta(seconds=1),
        )
        .set_start_executor("w")
        .build()
    )
    for n in range(3):
        await env.runner.start_run("x", payloads.encode(0.4), f"x{n}")
    for n in range(3):
        assert outputs(await env.events(f"x{n}")) == [0.4]


def test_free_slots_admit_that_many_queued_runs() -> None:
    assert to_admit(limit=3, occupying=1, queued=5) == 2
    assert to_admit(limit=3, occupying=3, queued=5) == 0
    assert to_admit(limit=3, occupying=4, queued=1) == 0  # a fork went over: no negative
    assert to_admit(limit=3, occupying=0, queued=1) == 1
    assert to_admit(limit=0, occupying=9, queued=4) == 4  # the limit was removed


@pytest.mark.parametrize(
    ("runs", "executes", "field"),
    [
        (-1, 0, "max_concurrent_runs"),
        (100_001, 0, "max_concurrent_runs"),
        (0, -1, "executors[0].max_concurrent_executes"),
        (0, 10_001, "executors[0].max_concurrent_executes"),
    ],
)
def test_limits_out_of_range_are_refused_naming_the_field(
    runs: int, executes: int, field: str
) -> None:
    definition = limited(runs)
    definition.executors[0].max_concurrent_executes = executes
    with pytest.raises(InvalidWorkflow) as refused:
        check_limits(definition)
    assert str(refused.value).startswith(f"{field} must be 0 (no limit) to ")


async def test_a_gate_lets_in_at_most_its_limit_in_arrival_order() -> None:
    gate = Gate(2)
    order: list[int] = []
    release = asyncio.Event()

    async def hold(n: int) -> None:
        async with gate.slot():
            order.append(n)
            await release.wait()

    tasks = [asyncio.create_task(hold(n)) for n in range(6)]
    await asyncio.sleep(0)  # one turn of the loop: every task reaches the gate
    assert gate.in_flight == 2
    tasks[3].cancel()  # a waiter that gives up leaves no hole
    await asyncio.sleep(0)
    assert order == [0, 1]
    release.set()
    await asyncio.gather(*tasks, return_exceptions=True)

    assert order == [0, 1, 2, 4, 5]
    assert (gate.most, gate.in_flight) == (2, 0)


async def test_a_granted_slot_passes_on_when_its_waiter_is_cancelled() -> None:
    gate = Gate(1)
    first = asyncio.Event()
    async with gate.slot():
        waiter = asyncio.create_task(_enter(gate, first))
        await asyncio.sleep(0)
    waiter.cancel()  # granted on release above, cancelled before it ran
    await asyncio.gather(waiter, return_exceptions=True)
    async with gate.slot():
        assert gate.in_flight == 1
    assert gate.in_flight == 0


async def test_a_waiter_cancelled_as_the_slot_frees_ends_cancelled() -> None:
    gate = Gate(1)
    entered = asyncio.Event()
    async with gate.slot():
        waiter = asyncio.create_task(_enter(gate, entered))
        await asyncio.sleep(0)  # one turn of the loop: it waits for the slot
        waiter.cancel()  # its future is cancelled now, the release below drops it
    (result,) = await asyncio.gather(waiter, return_exceptions=True)
    assert isinstance(result, asyncio.CancelledError), repr(result)
    assert (gate.in_flight, entered.is_set()) == (0, False)


async def _enter(gate: Gate, entered: asyncio.Event) -> None:
    async with gate.slot():
        entered.set()


def test_node_gates_follow_the_latest_limit_and_none_without_one() -> None:
    gates = NodeGates()
    node = workflow_pb2.ExecutorNode(id="n", endpoint="svc", max_concurrent_executes=2)
    gate = gates.for_node("w", node)
    node.max_concurrent_executes = 3
    assert gates.for_node("w", node) is gate
    assert gate is not None and gate.limit == 3
    assert gates.for_node("w", workflow_pb2.ExecutorNode(id="m", endpoint="svc")) is None
    assert gates.for_node("other", node) is not gate
