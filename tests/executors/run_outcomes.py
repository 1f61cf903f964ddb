"""Executors whose runs end in each way a client waits for: one that fails,
one that never finishes its superstep (until its run is cancelled)."""

from __future__ import annotations

import asyncio

from stepline import Executor, WorkflowContext, handler, run_executors


class Boom(Executor):
    @handler
    async def boom(self, n: int, ctx: WorkflowContext) -> None:
        raise ValueError(f"boom at {n}")


class Stall(Executor):
    @handler
    async def stall(self, n: int, ctx: WorkflowContext) -> None:
        await asyncio.Event().wait()  # never set: only a cancel ends it


if __name__ == "__main__":
    run_executors({"boom": Boom, "stall": Stall})
