"""`Counter`: counts down to 0, its state changing every superstep, then
yields how many messages it saw."""

from __future__ import annotations

from stepline.executor import Executor, WorkflowContext, handler


class Counter(Executor):
    """Counts down, keeping a state that changes every superstep."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    @handler
    async def count(self, n: int, ctx: WorkflowContext) -> None:
        self.seen.append(n)
        if n > 0:
            await ctx.send_message(n - 1)
        else:
            await ctx.yield_output(len(self.seen))

    def on_checkpoint_save(self) -> dict[str, list[int]]:
        return {"seen": self.seen}

    def on_checkpoint_restore(self, state: dict[str, list[int]]) -> None:
        self.seen = state["seen"]
