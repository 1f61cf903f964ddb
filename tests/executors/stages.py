"""Stateful test executors: a `Stage` counts and sums the tokens it sees and
passes each on, transformed, until the token has made `limit` hops.

Run as a script, it serves the `stage` type on a free port, or on
STEPLINE_PORT. With
STEPLINE_TEST_LOG set, every save and restore appends a JSON line there, so a
test can check that restore received exactly what save returned.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from typing import Any

from stepline import Executor, WorkflowContext, handler, run_executors
from stepline.conformance.reference import Reference


@dataclass
class Token:
    value: int
    hops: int
    limit: int
    delay_ms: int = 0


def _log(kind: str, executor_id: str, state: dict[str, Any]) -> None:
    path = os.environ.get("STEPLINE_TEST_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"kind": kind, "executor": executor_id, "state": state}) + "\n")


class Stage(Executor):
    def __init__(self) -> None:
        self.count = 0
        self.total = 0
        self.seen: list[int] = []

    @handler(sends=(Token,), yields=(dict,))
    async def on_token(self, token: Token, ctx: WorkflowContext) -> None:
        if token.delay_ms:
            await asyncio.sleep(token.delay_ms / 1000)  # stands for real work
        self.count += 1
        self.total += token.value
        self.seen.append(token.hops)
        value = (token.value * 31 + self.count + len(ctx.executor_id)) % 1_000_003
        if token.hops + 1 >= token.limit:
            await ctx.yield_output({"value": value, "by": ctx.executor_id, "total": self.total})
        else:
            await ctx.send_message(Token(value, token.hops + 1, token.limit, token.delay_ms))

    def on_checkpoint_save(self) -> dict[str, Any]:
        state = {"count": self.count, "total": self.total, "seen": self.seen}
        _log("save", self.id, state)
        return state

    def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        _log("restore", self.id, state)
        self.count = state["count"]
        self.total = state["total"]
        self.seen = list(state["seen"])


if __name__ == "__main__":
    # A fixed port (STEPLINE_PORT) lets a restarted service come back at the
    # address the workflow names.
    executors = {"stage": Stage, "reference": Reference}  # with the conformance reference
    run_executors(executors, port=int(os.environ.get("STEPLINE_PORT", "0")))
