"""Closing the runner lets a commit that is under way finish first, so a clean
shutdown never leaves a superstep half-stored or an error nobody reads."""

from __future__ import annotations

import asyncio
from typing import Any

from stepline import payloads
from stepline.testing import InProcessRunner
from stepline.v1 import events_pb2 as E
from tests.unit.gated import Stepper, loop


async def test_close_waits_for_the_commit_under_way(harness: InProcessRunner) -> None:
    Stepper.reset()
    harness.host("svc", {"stepper": Stepper})
    await harness.runner.register_workflow(loop().build())
    entered, release, finished = asyncio.Event(), asyncio.Event(), asyncio.Event()
    commit = harness.store.commit

    async def held_commit(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        await release.wait()
        stored = await commit(*args, **kwargs)
        finished.set()
        return stored

    harness.store.commit = held_commit  # type: ignore[method-assign]
    # Superstep 1 takes n=2; superstep 2 (n=3) is held in Stepper: whenever
    # the close cancels the driver, the run cannot have gone past 1.
    run = await harness.runner.start_run("w", payloads.encode(2))
    await entered.wait()

    closing = asyncio.ensure_future(harness.runner.close())
    release.set()
    await closing

    assert finished.is_set()  # the commit landed before close returned
    stored = await harness.store.get_run(run.run_id)
    assert stored is not None and stored.superstep == 1  # what that commit held


async def test_a_cancel_during_a_commit_lets_it_land_and_calls_nothing_after(
    harness: InProcessRunner,
) -> None:
    Stepper.reset()
    harness.host("svc", {"stepper": Stepper})
    await harness.runner.register_workflow(loop().build())
    entered, release, stopping = asyncio.Event(), asyncio.Event(), asyncio.Event()
    commit = harness.store.commit

    async def held_commit(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        await release.wait()
        return await commit(*args, **kwargs)

    harness.store.commit = held_commit  # type: ignore[method-assign]
    # Superstep 1 takes n=1 and sends n=2; its commit is held.
    run = await harness.runner.start_run("w", payloads.encode(1))
    await entered.wait()
    harness.store.commit = commit  # type: ignore[method-assign]
    driver = harness.runner.runs.driver(run.run_id)
    assert driver is not None
    stop = driver.stop

    def stopped(task: asyncio.Task[None]) -> None:
        stop(task)
        stopping.set()

    driver.stop = stopped  # type: ignore[method-assign]
    cancelling = asyncio.ensure_future(harness.runner.cancel_run(run.run_id))
    await stopping.wait()  # the cancel reached the driver while its commit is held
    release.set()
    cancelled = await cancelling

    assert cancelled.status == E.RUN_STATUS_CANCELLED
    assert cancelled.superstep == 1  # the held commit landed before the cancel's
    assert harness.executors.calls.count(("svc", "Execute")) == 1  # and nothing ran after it
