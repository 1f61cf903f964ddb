"""StartRun, ResumeRun and a fork reply with the run as that call left it,
never as its driver left it a moment later.

Each test makes the run's driver win the race for sure: a read of the run
from the test's own task, once the driver is launched, waits until the driver
is done. A reply read after the launch would then show the run ended."""

from __future__ import annotations

import asyncio

import pytest

from stepline import payloads
from stepline.testing import InProcessRunner
from stepline.v1 import events_pb2 as E
from stepline.v1 import runner_pb2
from tests.unit.gated import Stepper, loop


@pytest.fixture(autouse=True)
def gates() -> None:
    Stepper.reset()


def reads_after_the_driver(harness: InProcessRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on a read of a run by this task waits for the run's driver, if any."""
    store = harness.store
    read = store.get_run
    caller = asyncio.current_task()

    async def get_run(run_id: str) -> runner_pb2.Run | None:
        driver = harness.runner.runs.task(run_id)
        if driver is not None and asyncio.current_task() is caller:
            await asyncio.wait({driver})
        return await read(run_id)

    monkeypatch.setattr(store, "get_run", get_run)


async def ended(harness: InProcessRunner, run_id: str) -> runner_pb2.Run:
    """The run once its driver is done."""
    driver = harness.runner.runs.task(run_id)
    if driver is not None:
        await driver
    return await harness.get_run(run_id)


async def test_a_start_replies_with_the_run_as_started(
    harness: InProcessRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.host("svc", {"stepper": Stepper})
    await harness.runner.register_workflow(loop().build())
    Stepper.release.set()
    reads_after_the_driver(harness, monkeypatch)

    run = await harness.runner.start_run("w", payloads.encode(1), "r1")

    assert (run.status, run.superstep, run.last_sequence) == (E.RUN_STATUS_RUNNING, 0, 2)
    assert (await ended(harness, "r1")).status == E.RUN_STATUS_COMPLETED
    # A repeat of the same start reads the run as it is now.
    again = await harness.runner.start_run("w", payloads.encode(1), "r1")
    assert again.status == E.RUN_STATUS_COMPLETED


async def test_a_resume_replies_with_the_run_as_resumed(
    harness: InProcessRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.host("svc", {"stepper": Stepper})
    await harness.runner.register_workflow(loop().build())
    run = await harness.runner.start_run("w", payloads.encode(0))
    await Stepper.entered.wait()
    cancelled = await harness.runner.cancel_run(run.run_id)
    Stepper.release.set()
    reads_after_the_driver(harness, monkeypatch)

    resumed = await harness.runner.resume(cancelled.latest_checkpoint_id)

    assert (resumed.status, resumed.superstep) == (E.RUN_STATUS_RUNNING, 3)
    # RUN_RESUMED and the status change, nothing the driver committed after.
    assert resumed.last_sequence == cancelled.last_sequence + 2
    assert (await ended(harness, run.run_id)).status == E.RUN_STATUS_COMPLETED


async def test_a_fork_replies_with_the_new_run_as_started(
    harness: InProcessRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.host("svc", {"stepper": Stepper})
    await harness.runner.register_workflow(loop().build())
    Stepper.release.set()
    started = await harness.runner.start_run("w", payloads.encode(0))
    source = await ended(harness, started.run_id)
    checkpoints, _ = await harness.runner.list_checkpoints(source.run_id, 0, "")
    reads_after_the_driver(harness, monkeypatch)

    fork = await harness.runner.resume(checkpoints[2].checkpoint_id, new_run_id="f1")

    assert (fork.run_id, fork.status, fork.superstep) == ("f1", E.RUN_STATUS_RUNNING, 2)
    assert (await ended(harness, "f1")).status == E.RUN_STATUS_COMPLETED
