"""An executor that yields large outputs: `Emit(count, size)` yields one
output of `size` characters per superstep, `count` supersteps in a row.
Serves type `blobs`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from stepline import Executor, WorkflowContext, handler, run_executors


@dataclass
class Emit:
    count: int
    size: int


class Blobs(Executor):
    @handler(sends=(Emit,), yields=(str,))
    async def emit(self, emit: Emit, ctx: WorkflowContext) -> None:
        # Varied text, so nothing along the way gets it cheaply by compression.
        seed = hashlib.sha256(str(emit.count).encode()).hexdigest()
        await ctx.yield_output((seed * (emit.size // len(seed) + 1))[: emit.size])
        if emit.count > 1:
            await ctx.send_message(Emit(emit.count - 1, emit.size))


if __name__ == "__main__":
    run_executors({"blobs": Blobs})
