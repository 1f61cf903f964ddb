"""The benchmark's executor: `loop` sends itself a `Tick` every superstep.

Its state changes every step (a step count and a running checksum), so every
checkpoint carries a new state, as a real stateful loop would. When the tick
reaches its limit it yields an output instead of sending, and the run ends.

With LOOP_DELAY_MS set, each tick takes that long (a paced loop, for runs
that must outlive something, as in leases.py).

Run as a script it serves the `loop` type on a free port and prints
`stepline executors listening on HOST:PORT`.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

from stepline import Executor, WorkflowContext, handler, run_executors

DELAY = int(os.environ.get("LOOP_DELAY_MS", "0")) / 1000


@dataclass
class Tick:
    step: int
    limit: int


class Loop(Executor):
    def __init__(self) -> None:
        self.steps = 0
        self.checksum = 0

    @handler(sends=(Tick,), yields=(dict,))
    async def on_tick(self, tick: Tick, ctx: WorkflowContext) -> None:
        if DELAY:
            await asyncio.sleep(DELAY)
        self.steps += 1
        self.checksum = (self.checksum * 31 + tick.step) % 1_000_000_007
        if tick.step >= tick.limit:
            await ctx.yield_output({"steps": self.steps, "checksum": self.checksum})
        else:
            await ctx.send_message(Tick(tick.step + 1, tick.limit))

    def on_checkpoint_save(self) -> dict[str, Any]:
        return {"steps": self.steps, "checksum": self.checksum}

    def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self.steps = state["steps"]
        self.checksum = state["checksum"]


if __name__ == "__main__":
    run_executors({"loop": Loop})
