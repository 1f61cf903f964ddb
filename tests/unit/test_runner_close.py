"""Closing the runner lets a commit that is under way finish first, so a clean
shutdown never leaves a superstep half-stored or an error nobody reads."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from stepline import payloads
from stepline.testing import InProcessRunner
from stepline_runner.engine.errors import StoreUnavailable
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


async def test_a_commit_that_fails_under_a_close_is_logged(
    harness: InProcessRunner, caplog: pytest.LogCaptureFixture
) -> None:
    # The driver is cancelled while its commit is held: what the commit then
    # raises has no driver to hear it, so it is logged (review m1).
    Stepper.reset()
    harness.host("svc", {"stepper": Stepper})
    await harness.runner.register_workflow(loop().build())
    entered, release = asyncio.Event(), asyncio.Event()

    async def failing_commit(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        await release.wait()
        raise StoreUnavailable("the disk went away")

    run = await harness.runner.start_run("w", payloads.encode(2))
    harness.store.commit = failing_commit  # type: ignore[method-assign]
    await entered.wait()
    driving = harness.runner.runs.task(run.run_id)
    assert driving is not None

    with caplog.at_level(logging.WARNING):
        closing = asyncio.ensure_future(harness.runner.close())
        await asyncio.wait([driving])  # cancelled, its commit still held
        release.set()
        await closing

    assert [r.getMessage() for r in caplog.records] == [
        f"run {run.run_id}: the commit under way when its driver stopped failed "
        "(StoreUnavailable: the disk went away)"
    ]
