"""Executors for retries and timers: `flaky` fails a job's first attempts,
`steady` counts its calls beside it, `split` hands a job to both, `slow`
outlives its deadline on a first call, `twin` beside it looks restarted
once, `sleeper` sends itself a message with a delay, `raw-timer` sends
delays unchecked.

Run as a script, it serves them on a free port, or on STEPLINE_PORT.
"""

from __future__ import annotations

import asyncio
import builtins
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

from stepline import Executor, NonRetryableError, WorkflowContext, handler, payloads, run_executors


@dataclass
class Job:
    # Attempts that fail (1..fails), and with what: a builtin exception's
    # name, or "NonRetryableError".
    fails: int
    error: str = "TimeoutError"


@dataclass
class Nap:
    seconds: float
    left: int = 1  # naps still to take after this one
    log: list[int] = field(default_factory=list)


@dataclass
class RawTimer:
    # Seconds, written to the sent message as they are (no SDK checks).
    delay: float | None = None
    at: float | None = None
    sent: bool = False


class RawTimerSender(Executor):
    """Sends itself one message with `delay`/`deliver_at` set by hand, then
    yields when it arrives: what a buggy executor in any language could send."""

    @handler(sends=(RawTimer,), yields=(dict,))
    async def send(self, timer: RawTimer, ctx: WorkflowContext) -> None:
        if timer.sent:
            await ctx.yield_output({"delivered": True})
            return
        message = ctx.result.sent.add(
            source_id=ctx.executor_id,
            payload=payloads.encode(RawTimer(timer.delay, timer.at, sent=True)),
        )
        if timer.delay is not None:
            message.delay.seconds = int(timer.delay)
        if timer.at is not None:
            message.deliver_at.seconds = int(timer.at)


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


@dataclass
class Late:
    seconds: float  # how long the run's first call past superstep 1 works, past its deadline


class Slow(Executor):
    """Keeps its state outside the object, in a table by run, as an executor
    backed by a database would: a late call that wrote after the executor
    was put back would corrupt it. The run's first call past superstep 1 is
    the slow one; a later call that finds it still running waits for its
    write (so a write landing under it shows) and yields whether another
    call of the run was running, and the ledger."""

    ledgers: ClassVar[dict[str, list[str]]] = {}
    running: ClassVar[dict[str, int]] = {}
    written: ClassVar[dict[str, asyncio.Event]] = {}  # the run's slow call ended

    def __init__(self) -> None:
        self.run_id = ""  # known from the first call or restore

    @handler(sends=(Late,), yields=(dict,))
    async def work(self, late: Late, ctx: WorkflowContext) -> None:
        run_id = self.run_id = ctx.run_id
        if ctx.superstep == 1:  # a first state to go back to
            Slow.ledgers[run_id] = ["superstep 1"]
            await ctx.send_message(late)
            return
        beside = Slow.running.get(run_id, 0)
        Slow.running[run_id] = beside + 1
        try:
            if run_id not in Slow.written:
                written = Slow.written[run_id] = asyncio.Event()
                try:
                    await asyncio.sleep(late.seconds)  # the slow work, past the deadline
                    Slow.ledgers[run_id].append("late write of attempt 1")
                finally:
                    written.set()  # a cancelled call writes nothing
                return
            if beside:
                await Slow.written[run_id].wait()
            Slow.ledgers[run_id].append(f"attempt {ctx.attempt}")
            await ctx.yield_output({"beside": beside, "ledger": Slow.ledgers[run_id]})
        finally:
            Slow.running[run_id] -= 1

    def on_checkpoint_save(self) -> dict[str, Any]:
        return {"ledger": Slow.ledgers[self.run_id], "run_id": self.run_id}

    def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        # The run's id is not given to a restore: the state carries it.
        self.run_id = state["run_id"]
        Slow.ledgers[self.run_id] = list(state["ledger"])


class Twin(Executor):
    """Beside `slow` in its superstep 2: its first attempt answers as a
    service that restarted would (another incarnation id), so the runner
    rolls the whole run back while `slow`'s late call still runs."""

    @handler
    async def work(self, late: Late, ctx: WorkflowContext) -> None:
        if ctx.attempt == 1:
            ctx.result.incarnation_id = "as-if-restarted"


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


class Sleeper(Executor):
    def __init__(self) -> None:
        self.naps = 0

    @handler(sends=(Nap,), yields=(dict,))
    async def nap(self, nap: Nap, ctx: WorkflowContext) -> None:
        self.naps += 1
        log = [*nap.log, ctx.superstep]
        if nap.left == 0:
            await ctx.yield_output({"naps": self.naps, "supersteps": log})
            return
        await ctx.send_message(
            Nap(nap.seconds, nap.left - 1, log), delay=timedelta(seconds=nap.seconds)
        )

    def on_checkpoint_save(self) -> dict[str, Any]:
        return {"naps": self.naps}

    def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self.naps = state["naps"]


if __name__ == "__main__":
    run_executors(
        {
            "flaky": Flaky,
            "steady": Steady,
            "split": Split,
            "slow": Slow,
            "twin": Twin,
            "sleeper": Sleeper,
            "raw-timer": RawTimerSender,
        }
    )
