"""Retries on the engine with in-process executors: whatever the checkpoint
policy, only the failed executor is put back and called again, after its
backoff; the log reads in the order things happened."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

import pytest

from stepline import RetryPolicy, WorkflowBuilder
from stepline.executor import Executor, WorkflowContext, handler
from stepline.testing import InProcessRunner, of_kind, outputs
from stepline.v1 import events_pb2 as E
from stepline.v1 import workflow_pb2

Mode = workflow_pb2.CheckpointPolicy
BACKOFF = timedelta(milliseconds=30)


class Counter(Executor):
    """Counts to 3 in a loop from superstep 2 on; its first attempt in
    superstep 3 (its second call) fails after counting, so a retry that did
    not restore it would count one too many."""

    def __init__(self) -> None:
        self.count = 0

    @handler
    async def step(self, n: int, ctx: WorkflowContext) -> None:
        self.count += 1
        if ctx.superstep == 3 and ctx.attempt == 1:
            raise TimeoutError("the first try of superstep 3 times out")
        if self.count < 3:
            await ctx.send_message(n + 1)
        else:
            await ctx.yield_output({"count": self.count, "attempt": ctx.attempt})

    def on_checkpoint_save(self) -> dict[str, Any]:
        return {"count": self.count}

    def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self.count = state["count"]


class Beside(Executor):
    """Loops beside the counter; every call it gets is counted outside its
    state, so a rollback that called it again would show."""

    calls: ClassVar[list[int]] = []

    @handler
    async def step(self, n: int, ctx: WorkflowContext) -> None:
        Beside.calls.append(ctx.superstep)
        if n < 2:
            await ctx.send_message(n + 1)
        else:
            await ctx.yield_output({"beside": n})


def two_loops(mode: int) -> workflow_pb2.WorkflowDefinition:
    """start -> {c, b}; c and b each loop on themselves, in the same supersteps."""
    policy = RetryPolicy(max_attempts=2, initial_backoff=BACKOFF)
    definition = (
        WorkflowBuilder("w")
        .add_executor("start", "svc", type="b")
        .add_executor("c", "svc", type="c", retry_policy=policy)
        .add_executor("b", "svc", type="b", retry_policy=policy)
        .add_fan_out("start", ["c", "b"])
        .add_edge("c", "c")
        .add_edge("b", "b")
        .set_start_executor("start")
        .build()
    )
    definition.checkpoint_policy.mode = mode  # type: ignore[assignment]
    return definition


@pytest.mark.parametrize("mode", [Mode.MODE_EVERY_SUPERSTEP, Mode.MODE_ON_PAUSE_OR_FINISH])
async def test_a_retry_puts_back_the_failed_executor_alone_after_its_backoff(
    harness: InProcessRunner, mode: int
) -> None:
    """Sparse checkpoints too: c ran in superstep 2 and runs again in 3, so
    superstep 2 is checkpointed (its failure in 3 would need that state);
    the retry restores c alone, b is called once per superstep."""
    Beside.calls = []
    harness.host("svc", {"c": Counter, "b": Beside})
    await harness.runner.register_workflow(two_loops(mode))

    events = await harness.run("w", 0)

    # The failed call's count is gone: c counts to 3, once; b ran once per superstep.
    assert sorted(outputs(events), key=str) == [{"attempt": 1, "count": 3}, {"beside": 2}]
    assert Beside.calls == [1, 2, 3]  # start in 1, then b in 2 and 3
    assert not of_kind(events, E.EVENT_KIND_ROLLBACK)
    (retry,) = of_kind(events, E.EVENT_KIND_RETRY_SCHEDULED)
    assert (retry.executor_id, retry.attempt, retry.error.type) == ("c", 2, "TimeoutError")
    # The log reads as it happened: the superstep starts, c fails, its retry
    # is scheduled, then (after the backoff) c and b complete it.
    step3 = [(e.kind, e.executor_id) for e in events if e.superstep == 3]
    assert step3[:5] == [
        (E.EVENT_KIND_SUPERSTEP_STARTED, ""),
        (E.EVENT_KIND_EXECUTOR_INVOKED, "c"),
        (E.EVENT_KIND_EXECUTOR_INVOKED, "b"),
        (E.EVENT_KIND_EXECUTOR_FAILED, "c"),
        (E.EVENT_KIND_RETRY_SCHEDULED, "c"),
    ]
    assert step3.count((E.EVENT_KIND_SUPERSTEP_STARTED, "")) == 1
    completed = next(
        e for e in events if e.kind == E.EVENT_KIND_EXECUTOR_COMPLETED and e.superstep == 3
    )
    assert completed.time.ToNanoseconds() >= retry.due_time.ToNanoseconds()
    assert of_kind(events, E.EVENT_KIND_STATUS_CHANGED)[-1].status == E.RUN_STATUS_COMPLETED
