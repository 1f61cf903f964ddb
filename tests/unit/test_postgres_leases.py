"""Leases on PostgreSQL, store by store: two runners' stores on one database
(as two runner processes would hold them), and what each may do to a run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from stepline.v1 import events_pb2 as E
from stepline.v1 import runner_pb2
from stepline_runner.engine.graph import Graph
from stepline_runner.engine.state import RunState
from stepline_runner.errors import StaleEpoch
from stepline_runner.store import RunUpdate
from stepline_runner.store.news import RECONNECTED, Committed
from stepline_runner.store.postgres import PostgresStore
from tests.support.postgres import TemporaryPostgres
from tests.unit.graph_of_three import definition

LEASE = 60.0  # never runs out during a test: leases end by release_leases here


@pytest.fixture
async def pair(postgres_server: TemporaryPostgres) -> AsyncIterator[tuple[PostgresStore, ...]]:
    url = postgres_server.new_database()
    a = await PostgresStore.open(url, exclusive=False, lease_seconds=LEASE)
    b = await PostgresStore.open(url, exclusive=False, lease_seconds=LEASE)
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def created(store: PostgresStore, run_id: str = "r") -> None:
    state = RunState(run_id, Graph.compile(definition()), superstep=0, checkpoint_id="")
    run = runner_pb2.Run(run_id=run_id, workflow_id="w", status=E.RUN_STATUS_RUNNING)
    await store.create_run(run, "", state.checkpoint(parent_checkpoint_id=""), [])


def warning(text: str) -> list[E.Event]:
    return [E.Event(kind=E.EVENT_KIND_WARNING, message=text)]


async def test_a_run_is_its_creators_until_the_lease_ends(pair: tuple[PostgresStore, ...]) -> None:
    a, b = pair
    await created(a)
    assert await b.held_elsewhere("r") and not await a.held_elsewhere("r")
    assert await b.claim_expired(10) == []  # A's lease is live
    assert await a.renew_leases(["r"]) == {"r"}
    assert await b.renew_leases(["r"]) == set()  # not B's to renew

    await a.release_leases(["r"])  # A stops (or its lease ran out)
    (taken,) = await b.claim_expired(10)
    assert (taken.run_id, taken.epoch) == ("r", 2)
    assert await a.held_elsewhere("r")
    assert await a.renew_leases(["r"]) == set()  # A learns it lost the run
    with pytest.raises(StaleEpoch):
        await a.commit("r", RunUpdate(E.RUN_STATUS_FAILED, 1, epoch=1), warning("stale"))
    stored = await b.commit("r", RunUpdate(E.RUN_STATUS_RUNNING, 1, epoch=2), warning("owner"))
    assert [e.sequence for e in stored] == [1]


async def test_runners_claiming_at_once_share_the_expired_runs(
    pair: tuple[PostgresStore, ...],
) -> None:
    a, b = pair
    for i in range(8):
        await created(a, f"r{i}")
    await a.release_leases([f"r{i}" for i in range(8)])

    first, second = await asyncio.gather(b.claim_expired(4), a.claim_expired(4))

    names = [r.run_id for r in first + second]
    assert sorted(names) == [f"r{i}" for i in range(8)]  # each taken once
    assert {r.epoch for r in first + second} == {2}


async def test_commits_are_announced_to_the_other_runners(
    pair: tuple[PostgresStore, ...],
) -> None:
    a, b = pair
    await created(a)
    heard = b.committed_elsewhere()
    assert await anext(heard) == RECONNECTED  # listening: whatever came before may be missed
    await a.commit("r", RunUpdate(E.RUN_STATUS_RUNNING, 1, epoch=1), warning("news"))
    assert await asyncio.wait_for(anext(heard), 5) == Committed("r", first=1)
    await heard.aclose()  # type: ignore[attr-defined]
