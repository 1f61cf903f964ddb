"""Executors of the fan-out and memory benchmark (`scripts/bench/fanout.py`).

- `hub` fans a `Ping` out to every spoke and gets their `Pong`s back as one
  fan-in list; it counts rounds and, once the run has reached its superstep
  budget, yields a summary and stops sending.
- `spoke` answers a `Ping` with a `Pong`; its state (a count and a running
  checksum) changes every time, so every checkpoint carries new states.
- `ring` passes a `Lap` on around a ring of executors until its hops run out
  (the small multi-superstep workflow of the memory benchmark); it waits
  `delay_ms` per hop so that many runs are in flight at once.

The superstep budget works out as: superstep 1 is the hub's start, then spoke
and hub supersteps alternate. A `Ping` is marked `last` when it is delivered
in the final superstep; spokes do not answer it, and the run ends exactly at
the budget.

Run as a script it serves all three types on a free port and prints
`stepline executors listening on HOST:PORT`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from stepline import Executor, WorkflowContext, handler, run_executors

MODULUS = 1_000_000_007


@dataclass
class FanoutStart:
    supersteps: int


@dataclass
class Ping:
    round: int
    last: bool


@dataclass
class Pong:
    spoke: str
    round: int
    checksum: int


@dataclass
class Lap:
    hops_left: int
    delay_ms: int


class Hub(Executor):
    def __init__(self) -> None:
        self.limit = 0
        self.rounds = 0
        self.pongs = 0
        self.checksum = 0

    @handler(sends=(Ping,), yields=(dict,))
    async def start(self, start: FanoutStart, ctx: WorkflowContext) -> None:
        self.limit = start.supersteps
        await self._next(ctx)

    @handler(sends=(Ping,), yields=(dict,))
    async def gather(self, pongs: list[Pong], ctx: WorkflowContext) -> None:
        self.rounds += 1
        for pong in pongs:
            if pong.round != self.rounds:
                raise ValueError(f"{pong.spoke} answered round {pong.round} in {self.rounds}")
            self.pongs += 1
            self.checksum = (self.checksum * 31 + pong.checksum) % MODULUS
        await self._next(ctx)

    async def _next(self, ctx: WorkflowContext) -> None:
        """Ping the spokes again unless the budget is spent; yield at the end."""
        if ctx.superstep < self.limit:
            last = ctx.superstep + 1 >= self.limit
            await ctx.send_message(Ping(self.rounds + 1, last))
            if not last:
                return
        await ctx.yield_output(
            {"rounds": self.rounds, "pongs": self.pongs, "checksum": self.checksum}
        )

    def on_checkpoint_save(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "rounds": self.rounds,
            "pongs": self.pongs,
            "checksum": self.checksum,
        }

    def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self.limit = state["limit"]
        self.rounds = state["rounds"]
        self.pongs = state["pongs"]
        self.checksum = state["checksum"]


class Spoke(Executor):
    def __init__(self) -> None:
        self.pings = 0
        self.checksum = 0

    @handler(sends=(Pong,))
    async def ping(self, ping: Ping, ctx: WorkflowContext) -> None:
        self.pings += 1
        self.checksum = (self.checksum * 31 + ping.round + len(ctx.executor_id)) % MODULUS
        if not ping.last:
            await ctx.send_message(Pong(ctx.executor_id, ping.round, self.checksum))

    def on_checkpoint_save(self) -> dict[str, Any]:
        return {"pings": self.pings, "checksum": self.checksum}

    def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self.pings = state["pings"]
        self.checksum = state["checksum"]


class Ring(Executor):
    def __init__(self) -> None:
        self.hops = 0

    @handler(sends=(Lap,), yields=(dict,))
    async def lap(self, lap: Lap, ctx: WorkflowContext) -> None:
        if lap.delay_ms:
            await asyncio.sleep(lap.delay_ms / 1000)  # stands for real work
        self.hops += 1
        if lap.hops_left > 1:
            await ctx.send_message(Lap(lap.hops_left - 1, lap.delay_ms))
        else:
            await ctx.yield_output({"by": ctx.executor_id, "hops": self.hops})

    def on_checkpoint_save(self) -> dict[str, Any]:
        return {"hops": self.hops}

    def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self.hops = state["hops"]


TYPES: dict[str, type[Executor]] = {"hub": Hub, "spoke": Spoke, "ring": Ring}

if __name__ == "__main__":
    run_executors(TYPES)
