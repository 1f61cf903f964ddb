"""Executors for retries: `flaky` fails a job's first attempts, `steady`
counts its calls beside it, `split` hands a job to both.

Run as a script, it serves them on a free port, or on STEPLINE_PORT.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

from stepline import Executor, NonRetryableError, WorkflowContext, handler, run_executors


@dataclass
class Job:
    # Attempts that fail (1..fails), and with what: a builtin exception's
    # name, or "NonRetryableError".
    fails: int
    error: str = "TimeoutError"


class Flaky(Executor):
    def __init__(self) -> None:
        # A failed attempt's changes are rolled back: only the last one stays.
        self.attempts: list[int] = []

    @handler(yields=(dict,))
    async def work(self, job: Job, ctx: WorkflowContext) -> None:
        self.attempts.append(ctx.attempt)
        if ctx.attempt <= job.fails:
            if job.error == "NonRetryableError":
                raise NonRetryableError(f"attempt {ctx.attempt}: no retry fixes this")
            error: type[Exception] = getattr(builtins, job.error)
            raise error(f"attempt {ctx.attempt} failed")
        await ctx.yield_output({"by": "flaky", "attempt": ctx.attempt})

    def on_checkpoint_save(self) -> dict[str, Any]:
        return {"attempts": self.attempts}

    def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self.attempts = state["attempts"]


class Steady(Executor):
    def __init__(self) -> None:
        self.calls = 0

    @handler(yields=(dict,))
    async def work(self, job: Job, ctx: WorkflowContext) -> None:
        self.calls += 1
        await ctx.yield_output({"by": "steady", "calls": self.calls, "attempt": ctx.attempt})

    def on_checkpoint_save(self) -> dict[str, Any]:
        return {"calls": self.calls}

    def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self.calls = state["calls"]


class Split(Executor):
    @handler(sends=(Job,))
    async def split(self, job: Job, ctx: WorkflowContext) -> None:
        await ctx.send_message(job)


if __name__ == "__main__":
    run_executors({"flaky": Flaky, "steady": Steady, "split": Split})
