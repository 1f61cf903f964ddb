"""Retries on the engine with in-process executors: the checkpoint policy
decides whether one executor is put back or the whole run rolls back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from stepline import RetryPolicy
from stepline.executor import Executor, WorkflowContext, handler
from stepline.testing import InProcessRunner, of_kind, outputs
from stepline.v1 import events_pb2 as E
from stepline.v1 import workflow_pb2
from tests.support.runs import self_loop

Mode = workflow_pb2.CheckpointPolicy


class Counter(Executor):
    """Counts to 3 in a loop; its first attempt in superstep 2 fails after
    counting (so a retry that did not restore it would count one too many)."""

    def __init__(self) -> None:
        self.count = 0

    @handler
    async def step(self, n: int, ctx: WorkflowContext) -> None:
        self.count += 1
        if ctx.superstep == 2 and ctx.attempt == 1:
            raise TimeoutError("the first try of superstep 2 times out")
        if self.count < 3:
            await ctx.send_message(n + 1)
        else:
            await ctx.yield_output({"count": self.count, "attempt": ctx.attempt})

    def on_checkpoint_save(self) -> dict[str, Any]:
        return {"count": self.count}

    def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self.count = state["count"]


@pytest.mark.parametrize(
    ("mode", "retried"),
    [(Mode.MODE_EVERY_SUPERSTEP, True), (Mode.MODE_ON_PAUSE_OR_FINISH, False)],
)
async def test_a_retry_restores_the_executor_or_rolls_the_run_back(
    harness: InProcessRunner, mode: int, retried: bool
) -> None:
    """Every superstep checkpointed: the executor alone goes back to the last
    checkpoint. Sparse checkpoints: its state after superstep 1 was never
    saved, so the whole run rolls back to checkpoint 0 and re-runs."""
    harness.host("svc", {"c": Counter})
    definition = self_loop("w", "c").build()
    definition.checkpoint_policy.mode = mode  # type: ignore[assignment]
    definition.executors[0].retry_policy.CopyFrom(
        RetryPolicy(max_attempts=2, initial_backoff=timedelta(milliseconds=1)).to_proto()
    )
    await harness.runner.register_workflow(definition)

    events = await harness.run("w", 0)

    # The failed call's count is gone either way: the output counts to 3, once.
    assert outputs(events) == [{"count": 3, "attempt": 1}]
    retries = of_kind(events, E.EVENT_KIND_RETRY_SCHEDULED)
    rollbacks = of_kind(events, E.EVENT_KIND_ROLLBACK)
    if retried:
        (retry,) = retries
        assert (retry.executor_id, retry.attempt, retry.error.type) == ("c", 2, "TimeoutError")
        assert not rollbacks
    else:
        (rollback,) = rollbacks
        assert not retries and "retrying 'c' needs its state after superstep 1" in rollback.message
    assert of_kind(events, E.EVENT_KIND_STATUS_CHANGED)[-1].status == E.RUN_STATUS_COMPLETED
