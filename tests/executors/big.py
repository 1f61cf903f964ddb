"""An executor with a state as large as asked for: `Grow(size)` fills it,
`Check()` yields the sha256 of what it holds. Serves type `big`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from stepline import Executor, WorkflowContext, handler, run_executors


@dataclass
class Grow:
    size: int


@dataclass
class Check:
    pass


class Big(Executor):
    def __init__(self) -> None:
        self.blob = ""

    @handler(sends=(Check,), yields=(str,))
    async def grow(self, grow: Grow, ctx: WorkflowContext) -> None:
        # Varied text, so nothing along the way gets it cheaply by compression.
        seed = hashlib.sha256(str(grow.size).encode()).hexdigest()
        self.blob = (seed * (grow.size // len(seed) + 1))[: grow.size]
        await ctx.send_message(Check())

    @handler(yields=(str,))
    async def check(self, _: Check, ctx: WorkflowContext) -> None:
        await ctx.yield_output(hashlib.sha256(self.blob.encode()).hexdigest())

    def on_checkpoint_save(self) -> dict[str, Any]:
        return {"blob": self.blob}

    def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self.blob = state["blob"]


if __name__ == "__main__":
    run_executors({"big": Big})
