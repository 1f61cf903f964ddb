"""Executors for the observability tests: a `hop` passes a `Hop` on until
it has made `limit` hops, fails at hop `fail_at`, or first asks a person
when `ask`; each handler opens a span of its own, as user code would.

Run as a script it serves the `hop` type on STEPLINE_PORT (or a free port),
with metrics on STEPLINE_METRICS_PORT and traces as OTEL_* say.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace

from stepline import Executor, WorkflowContext, handler, response_handler, run_executors
from stepline.builder import WorkflowBuilder
from stepline.v1 import workflow_pb2

tracer = trace.get_tracer("tests.observed")


@dataclass
class Hop:
    hops: int
    limit: int
    fail_at: int = -1
    delay_ms: int = 0
    ask: bool = False


@dataclass
class Question:
    text: str


@dataclass
class Answer:
    ok: bool


class HopFailed(RuntimeError):
    pass


class Hopper(Executor):
    def __init__(self) -> None:
        self.seen = 0

    @handler(sends=(Hop,), yields=(dict,))
    async def on_hop(self, hop: Hop, ctx: WorkflowContext) -> None:
        with tracer.start_as_current_span("user work"):
            self.seen += 1
            if hop.delay_ms:
                await asyncio.sleep(hop.delay_ms / 1000)  # stands for real work
            if hop.hops == hop.fail_at:
                raise HopFailed(f"hop {hop.hops} fails, as asked")
            if hop.ask:
                await ctx.request_info(Question(f"go on after hop {hop.hops}?"), Answer)
                return
            await self._forward(hop, ctx)

    @response_handler(sends=(Hop,), yields=(dict,))
    async def on_answer(self, question: Question, answer: Answer, ctx: WorkflowContext) -> None:
        await ctx.yield_output({"answered": answer.ok, "seen": self.seen})

    async def _forward(self, hop: Hop, ctx: WorkflowContext) -> None:
        if hop.hops + 1 >= hop.limit:
            await ctx.yield_output({"hops": hop.hops + 1, "seen": self.seen})
        else:
            await ctx.send_message(Hop(hop.hops + 1, hop.limit, hop.fail_at, hop.delay_ms))

    def on_checkpoint_save(self) -> dict[str, Any]:
        return {"seen": self.seen}

    def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self.seen = state["seen"]


def hop_pair(workflow_id: str, first: str, second: str) -> workflow_pb2.WorkflowDefinition:
    """a -> b -> a ..., two `hop` executors at endpoints `first` and `second`."""
    return (
        WorkflowBuilder(workflow_id, max_supersteps=100)
        .add_executor("a", first, type="hop")
        .add_executor("b", second, type="hop")
        .add_edge("a", "b")
        .add_edge("b", "a")
        .set_start_executor("a")
        .build()
    )


if __name__ == "__main__":
    run_executors({"hop": Hopper}, port=int(os.environ.get("STEPLINE_PORT", "0")))
