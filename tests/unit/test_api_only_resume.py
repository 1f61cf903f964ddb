"""A resume sent to a runner that drives nothing (--max-runs 0) restores the
run's executors once, by the runner that claims the run; not by both. That
runner claims it at once (the release is announced), not at its next round.

Two runner engines in this process on one PostgreSQL database, as two runner
processes would be, calling the same in-process executors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from stepline import payloads
from stepline.testing import InProcessExecutors
from stepline.v1 import events_pb2 as E
from stepline_runner.engine.replies import Batch
from stepline_runner.engine.runner import Runner
from stepline_runner.store.postgres import PostgresStore
from tests.support.postgres import TemporaryPostgres
from tests.unit.gated import Stepper, loop

LEASE = 600.0  # never runs out here, and no round comes by itself during a test


@pytest.fixture
async def runners(postgres_server: TemporaryPostgres) -> AsyncIterator[tuple[Runner, Runner]]:
    """A runner that drives runs, and one that serves the API only."""
    Stepper.reset()
    url = postgres_server.new_database()
    executors = InProcessExecutors()
    executors.add("svc", {"stepper": Stepper})
    stores = [await PostgresStore.open(url, exclusive=False, lease_seconds=LEASE) for _ in "ab"]
    driving, api_only = (Runner(store, executors) for store in stores)
    driving.share(stores[0])
    api_only.share(stores[1], max_runs=0)
    try:
        yield driving, api_only
    finally:
        for runner, store in zip((driving, api_only), stores, strict=True):
            await runner.close()
            await store.close()


async def collected(batches: AsyncIterator[Batch]) -> list[E.Event]:
    return [e async for b in batches for e in b]


async def test_a_resume_through_a_runner_that_drives_nothing_restores_once(
    runners: tuple[Runner, Runner],
) -> None:
    driving, api_only = runners
    await driving.register_workflow(loop().build())
    run = await driving.start_run("w", payloads.encode(0))
    await Stepper.entered.wait()
    cancelled = await driving.cancel_run(run.run_id)
    Stepper.release.set()
    calls = driving.executors.calls  # type: ignore[attr-defined]
    before = len(calls)

    resumed = await api_only.resume(cancelled.latest_checkpoint_id)
    watch = api_only.watch(run.run_id, cancelled.last_sequence)
    events = await asyncio.wait_for(collected(watch), 60)  # claimed on the announcement

    assert resumed.status == E.RUN_STATUS_RUNNING
    assert events[-1].status == E.RUN_STATUS_COMPLETED
    assert calls[before:].count(("svc", "RestoreCheckpoint")) == 1
    assert not api_only.runs.active_ids()  # driven by the other runner
