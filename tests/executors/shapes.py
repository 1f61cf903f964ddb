"""Executors for graph-shape tests: a source that forwards jobs, stateful
workers, leaves that yield what they get, a joiner for fan-in, a counter
for loops. Run as a script, it serves them all on a free port."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from stepline import Executor, WorkflowContext, handler, run_executors


@dataclass
class Job:
    n: int
    tag: str = ""
    target: str = ""
    delay_ms: int = 0


@dataclass
class Result:
    by: str
    n: int


class Source(Executor):
    @handler(sends=(Job, Result))
    async def forward(self, job: Job, ctx: WorkflowContext) -> None:
        if job.tag == "as-result":
            await ctx.send_message(Result(ctx.executor_id, job.n))
        else:
            await ctx.send_message(job, target_id=job.target or None)


class Worker(Executor):
    """Doubles n; with `hops` in the job tag ("hops=3") it passes the job on
    that many more times first (a slow branch)."""

    def __init__(self) -> None:
        self.count = 0

    @handler(sends=(Result, Job))
    async def work(self, job: Job, ctx: WorkflowContext) -> None:
        if job.delay_ms:
            await asyncio.sleep(job.delay_ms / 1000)  # stands for real work
        self.count += 1
        if job.tag.startswith("hops=") and int(job.tag[5:]) > 0:
            rest = int(job.tag[5:]) - 1
            await ctx.send_message(Job(job.n, f"hops={rest}", delay_ms=job.delay_ms))
        else:
            await ctx.send_message(Result(ctx.executor_id, job.n * 2 + self.count))

    def on_checkpoint_save(self) -> dict[str, Any]:
        return {"count": self.count}

    def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self.count = state["count"]


class Leaf(Executor):
    @handler(yields=(dict,))
    async def job(self, job: Job, ctx: WorkflowContext) -> None:
        await ctx.yield_output({"by": ctx.executor_id, "n": job.n})

    @handler(yields=(dict,))
    async def result(self, result: Result, ctx: WorkflowContext) -> None:
        await ctx.yield_output({"by": ctx.executor_id, "n": result.n, "from": result.by})


class ResultLeaf(Executor):
    @handler(yields=(dict,))
    async def result(self, result: Result, ctx: WorkflowContext) -> None:
        await ctx.yield_output({"by": ctx.executor_id, "n": result.n})


class Joiner(Executor):
    def __init__(self) -> None:
        self.batches = 0

    @handler(yields=(dict,))
    async def join(self, results: list[Result], ctx: WorkflowContext) -> None:
        self.batches += 1
        await ctx.yield_output(
            {"batch": self.batches, "results": sorted([r.by, r.n] for r in results)}
        )

    def on_checkpoint_save(self) -> dict[str, Any]:
        return {"batches": self.batches}

    def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self.batches = state["batches"]


class Relay(Executor):
    """A slow hop: passes a result on after 100 ms of work."""

    @handler(sends=(Result,))
    async def relay(self, result: Result, ctx: WorkflowContext) -> None:
        await asyncio.sleep(0.1)  # stands for real work
        await ctx.send_message(Result(result.by, result.n + 1))


class Counter(Executor):
    @handler(sends=(Job,))
    async def count(self, job: Job, ctx: WorkflowContext) -> None:
        await ctx.send_message(Job(job.n + 1, job.tag))


TYPES: dict[str, type[Executor]] = {
    "source": Source,
    "worker": Worker,
    "leaf": Leaf,
    "result-leaf": ResultLeaf,
    "join": Joiner,
    "counter": Counter,
    "relay": Relay,
}

if __name__ == "__main__":
    run_executors(TYPES)
