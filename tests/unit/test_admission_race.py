"""A start of a workflow without a limit takes no lock (many start at once);
one under way when a version with a limit is registered (here, or by
another runner on a shared database) is counted with the runs that started
under the new limit: it queues when it would exceed it. Deterministic: the
unlocked start's create is held until the limited start has counted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from stepline import payloads
from stepline.testing import InProcessRunner, outputs
from stepline.v1 import events_pb2 as E
from stepline_runner.engine.admission import OCCUPYING
from tests.support.stores import harness_on_both_stores
from tests.unit.test_admission import Holder, drained, entered, limited

__all__ = ["harness_on_both_stores"]  # every test here runs on SQLite and PostgreSQL


@pytest.fixture
async def env(harness: InProcessRunner) -> AsyncIterator[InProcessRunner]:
    Holder.reset()
    yield harness
    await drained(harness)


class HeldCreate:
    """The run log's store, holding the next `create_run` until `release`."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.armed = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def create_run(self, *args: Any) -> Any:
        if self.armed:
            self.armed = False
            self.entered.set()
            await self.release.wait()
        return await self._store.create_run(*args)


@pytest.mark.parametrize("registered", ["here", "elsewhere"])
async def test_a_start_under_way_when_a_limit_is_registered_queues_beyond_it(
    env: InProcessRunner, registered: str
) -> None:
    env.host("svc", {"holder": Holder})
    await env.runner.register_workflow(limited(0))  # no limit: starts take no lock
    if registered == "elsewhere":  # runners share the database
        env.runner.workflows.share()
        env.runner.admission.share()
    held = HeldCreate(env.runner.log._store)
    env.runner.log._store = held

    unlocked = asyncio.create_task(env.runner.start_run("w", payloads.encode(1), "r1"))
    await held.entered.wait()  # it read the version without a limit, and creates its run
    definition = limited(1)
    if registered == "here":
        await env.runner.register_workflow(definition)
    else:
        graph = env.runner.workflows._compiled["w", 1].graph
        await env.store.put_workflow(definition, graph.signature)
    first = await env.runner.start_run("w", payloads.encode(2), "r2")  # counts 0: starts
    assert first.status == E.RUN_STATUS_RUNNING
    held.release.set()
    late = await unlocked

    assert late.status == E.RUN_STATUS_QUEUED  # one slot, taken by r2
    await entered(1)
    assert Holder.entered == [2]
    assert await env.store.count_runs("w", OCCUPYING) == 1
    Holder.releases[2].set()  # r2 ends: r1 takes the slot
    await entered(2)
    Holder.releases[1].set()
    assert outputs(await env.events("r1")) == [1]
    statuses = [e.status for e in await env.events("r1") if e.kind == E.EVENT_KIND_STATUS_CHANGED]
    assert statuses[:3] == [E.RUN_STATUS_RUNNING, E.RUN_STATUS_QUEUED, E.RUN_STATUS_RUNNING]


async def test_a_start_without_a_limit_reads_nothing_more_on_its_own_database(
    env: InProcessRunner,
) -> None:
    env.host("svc", {"holder": Holder})
    await env.runner.register_workflow(limited(0))
    await asyncio.gather(*env.runner.admission._tasks)  # what the registration set off
    Holder.open = True
    reads = 0
    store = env.runner.admission._store
    get_workflow = store.get_workflow

    async def counted(*args: Any) -> Any:
        nonlocal reads
        reads += 1
        return await get_workflow(*args)

    store.get_workflow = counted  # type: ignore[method-assign,assignment]
    run = await env.runner.start_run("w", payloads.encode(1), "r1")
    assert (run.status, reads) == (E.RUN_STATUS_RUNNING, 0)  # no recheck of the limit
    assert outputs(await env.events("r1")) == [1]
