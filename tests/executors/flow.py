"""Executors for the tests of concurrency limits and schedules.

- `asker` asks for a number and yields its input once answered, so a test
  decides when each run ends (and frees its workflow's slot).
- `counted` counts the Execute calls it has in flight, across runs, and
  yields the most it saw at once: the runner's per-node limit must hold it
  down. Each call waits for `meet` calls to be in flight together (at most
  5 s), then works for `work` seconds: without a limit every call of a burst
  would be in flight at once.
- `stamp` yields its input (a schedule's runs).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

from stepline import Executor, WorkflowContext, handler, response_handler, run_executors


@dataclass
class Ask:
    n: int


class Asker(Executor):
    @handler
    async def take(self, n: int, ctx: WorkflowContext) -> None:
        await ctx.request_info(Ask(n), int)

    @response_handler(yields=(int,))
    async def answered(self, request: Ask, answer: int, ctx: WorkflowContext) -> None:
        await ctx.yield_output(request.n)


class Counted(Executor):
    in_flight = 0
    peak = 0
    changed: asyncio.Condition | None = None

    @handler(yields=(dict,))
    async def work(self, job: dict[str, Any], ctx: WorkflowContext) -> None:
        cls = Counted
        cls.changed = cls.changed or asyncio.Condition()
        async with cls.changed:
            cls.in_flight += 1
            cls.peak = max(cls.peak, cls.in_flight)
            cls.changed.notify_all()
            try:
                async with asyncio.timeout(5):
                    await cls.changed.wait_for(lambda: cls.in_flight >= job["meet"])
            except TimeoutError:
                pass
        await asyncio.sleep(job["work"])  # the slow service's work, not a wait on the test
        async with cls.changed:
            cls.in_flight -= 1
            cls.changed.notify_all()
        await ctx.yield_output({"n": job["n"], "peak": cls.peak})


class Stamp(Executor):
    @handler(yields=(str,))
    async def stamp(self, value: str, ctx: WorkflowContext) -> None:
        await ctx.yield_output(value)


if __name__ == "__main__":
    run_executors(
        {"asker": Asker, "counted": Counted, "stamp": Stamp},
        port=int(os.environ.get("STEPLINE_PORT", "0")),
    )
