"""The checkpoint benchmark's executors: `driver` and `cell`.

`driver` takes the run's input, a `Tick`, and sends it on; the graph decides
to whom (every cell, or one). A `cell` holds `Tick.size` characters of
pseudo-random text (base64 of seeded random bytes: nothing for SQLite to share
between states, and SQLite does not compress anyway). On its first invocation
it makes its text; after that, it makes new text only in the supersteps where
`superstep % cells` is its index (`cell-07` is index 7). Then it sends the tick
on while the superstep is below `Tick.limit`.

So in a graph where every cell loops to itself, all cells run every superstep
and exactly one of them changes its state; in a ring (`cell-i` to `cell-i+1`,
entered at the cell of index `2 % cells`), the one cell that runs is the one
whose turn it is, and it changes. Either way one state of `size` characters
changes per superstep.

Run as a script it serves both types on a free port and prints
`stepline executors listening on HOST:PORT`.
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass
from typing import Any

from stepline import Executor, WorkflowContext, handler, run_executors


@dataclass
class Tick:
    cells: int
    limit: int
    size: int


def cell_text(executor_id: str, version: int, size: int) -> str:
    """`size` characters of text, a pure function of (cell, version)."""
    raw = random.Random(f"{executor_id}:{version}").randbytes(size * 3 // 4 + 3)
    return base64.b64encode(raw).decode()[:size]


def cell_index(executor_id: str) -> int:
    return int(executor_id.rsplit("-", 1)[1])


class Driver(Executor):
    @handler(sends=(Tick,))
    async def start(self, tick: Tick, ctx: WorkflowContext) -> None:
        await ctx.send_message(tick)


class Cell(Executor):
    def __init__(self) -> None:
        self.version = -1
        self.text = ""

    @handler(sends=(Tick,))
    async def tick(self, tick: Tick, ctx: WorkflowContext) -> None:
        if self.version < 0 or ctx.superstep % tick.cells == cell_index(self.id):
            self.version = ctx.superstep
            self.text = cell_text(self.id, self.version, tick.size)
        if ctx.superstep < tick.limit:
            await ctx.send_message(tick)

    def on_checkpoint_save(self) -> dict[str, Any]:
        return {"text": self.text, "version": self.version}

    def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self.text = state["text"]
        self.version = state["version"]


if __name__ == "__main__":
    run_executors({"driver": Driver, "cell": Cell})
