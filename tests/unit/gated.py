"""`Stepper`: a counting loop executor that tests can hold at superstep 3."""

from __future__ import annotations

import asyncio

from stepline import WorkflowBuilder, payloads
from stepline.executor import Executor, WorkflowContext, handler
from stepline.host import ExecutorHost
from stepline.testing import InProcessRunner
from stepline.v1 import runner_pb2
from tests.support.runs import self_loop


class Stepper(Executor):
    """Counts messages up to n=5; holds the message n=3 until `release` is set.
    `reset()` gives each test fresh events."""

    entered = asyncio.Event()
    release = asyncio.Event()

    def __init__(self) -> None:
        self.count = 0

    @classmethod
    def reset(cls) -> None:
        cls.entered, cls.release = asyncio.Event(), asyncio.Event()

    @handler
    async def step(self, n: int, ctx: WorkflowContext) -> None:
        self.count += 1
        if n == 3 and not Stepper.release.is_set():
            Stepper.entered.set()
            await Stepper.release.wait()
        if n < 5:
            await ctx.send_message(n + 1)
        else:
            await ctx.yield_output(self.count)

    def on_checkpoint_save(self) -> dict[str, int]:
        return {"count": self.count}

    def on_checkpoint_restore(self, state: dict[str, int]) -> None:
        self.count = state["count"]


def loop(workflow_id: str = "w") -> WorkflowBuilder:
    """One `stepper` executor "s" at endpoint "svc", sending to itself."""
    return self_loop(workflow_id, "s", "stepper")


async def stepping(harness: InProcessRunner) -> tuple[ExecutorHost, runner_pb2.Run]:
    """A run of the gated loop, its Execute of n=3 under way (held until
    `Stepper.release`) and the commits before it landed (`held`), and the
    host it runs on."""
    host = harness.host("svc", {"stepper": Stepper})
    await harness.runner.register_workflow(loop().build())
    Stepper.reset()
    run = await harness.runner.start_run("w", payloads.encode(1))
    await held(harness, run.run_id)
    return host, run


async def held(harness: InProcessRunner, run_id: str) -> None:
    """Wait for the run's Execute of n=3 (held in Stepper) and for the
    commits before it (the last one goes on while that Execute is under way)."""
    await Stepper.entered.wait()
    driver = harness.runner.runs.driver(run_id)
    assert driver is not None
    await driver.commits.landed()


async def released(harness: InProcessRunner, run_id: str) -> runner_pb2.Run:
    """The run as stored once its gated Execute was let go and its driver ended."""
    Stepper.release.set()
    task = harness.runner.runs.task(run_id)
    assert task is not None
    await task
    after = await harness.store.get_run(run_id)
    assert after is not None
    return after
