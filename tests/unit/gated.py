"""`Stepper`: a counting loop executor that tests can hold at superstep 3."""

from __future__ import annotations

import asyncio

from stepline import WorkflowBuilder
from stepline.executor import Executor, WorkflowContext, handler
from tests.support.runs import self_loop


class Stepper(Executor):
    """Counts messages up to n=5; holds the message n=3 until `release` is set.
    `reset()` gives each test fresh events."""

    entered = asyncio.Event()
    release = asyncio.Event()

    def __init__(self) -> None:
        self.count = 0

    @classmethod
    def reset(cls) -> None:
        cls.entered, cls.release = asyncio.Event(), asyncio.Event()

    @handler
    async def step(self, n: int, ctx: WorkflowContext) -> None:
        self.count += 1
        if n == 3 and not Stepper.release.is_set():
            Stepper.entered.set()
            await Stepper.release.wait()
        if n < 5:
            await ctx.send_message(n + 1)
        else:
            await ctx.yield_output(self.count)

    def on_checkpoint_save(self) -> dict[str, int]:
        return {"count": self.count}

    def on_checkpoint_restore(self, state: dict[str, int]) -> None:
        self.count = state["count"]


def loop(workflow_id: str = "w") -> WorkflowBuilder:
    """One `stepper` executor "s" at endpoint "svc", sending to itself."""
    return self_loop(workflow_id, "s", "stepper")
