"""`Plateau`: a looping executor whose state grows to 3, then stays, for
tests of checkpoints, forks and cancels."""

from __future__ import annotations

from stepline.executor import Executor, WorkflowContext, handler
from stepline.v1 import workflow_pb2
from tests.support.runs import self_loop

Mode = workflow_pb2.CheckpointPolicy


class Plateau(Executor):
    """State grows to 3, then stays: later saves are `unchanged`."""

    def __init__(self) -> None:
        self.level = 0

    @handler
    async def step(self, n: int, ctx: WorkflowContext) -> None:
        self.level = min(n, 3)
        if n < 8:
            await ctx.send_message(n + 1)
        else:
            await ctx.yield_output(self.level)

    def on_checkpoint_save(self) -> dict[str, int]:
        return {"level": self.level}

    def on_checkpoint_restore(self, state: dict[str, int]) -> None:
        self.level = state["level"]


def plateau_loop(keep_last: int = 0, policy: Mode | None = None) -> workflow_pb2.WorkflowDefinition:
    definition = self_loop("w", "p", "plateau").build()
    definition.retention.keep_last = keep_last
    if policy is not None:
        definition.checkpoint_policy.CopyFrom(policy)
    return definition
