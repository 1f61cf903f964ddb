"""The runners sharing a PostgreSQL database, store by store (as runner
processes would hold them): who is alive, fair shares of the running runs,
runs handed out at their start, and duties one runner at a time holds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from stepline.v1 import events_pb2 as E
from stepline.v1 import runner_pb2
from stepline_runner.engine.graph import Graph
from stepline_runner.engine.state import RunState
from stepline_runner.store.news import RECONNECTED, Committed, ScheduleChanged
from stepline_runner.store.postgres import PostgresStore
from tests.support.postgres import TemporaryPostgres
from tests.support.stores import execute, rows
from tests.unit.graph_of_three import definition

LEASE = 60.0
NOW = "extract(epoch from clock_timestamp())"


@pytest.fixture
async def trio(postgres_server: TemporaryPostgres) -> AsyncIterator[list[PostgresStore]]:
    url = postgres_server.new_database()
    stores = [await PostgresStore.open(url, exclusive=False, lease_seconds=LEASE) for _ in "abc"]
    try:
        yield stores
    finally:
        for store in stores:
            await store.close()


async def created(store: PostgresStore, run_id: str) -> None:
    state = RunState(run_id, Graph.compile(definition()), superstep=0, checkpoint_id="")
    run = runner_pb2.Run(run_id=run_id, workflow_id="w", status=E.RUN_STATUS_RUNNING)
    started = [E.Event(kind=E.EVENT_KIND_RUN_STARTED)]
    await store.create_run(run, "", state.checkpoint(parent_checkpoint_id=""), started)


def url(store: PostgresStore) -> str:
    return store._dsn


async def test_a_runner_beyond_its_fair_share_hands_new_runs_out(
    trio: list[PostgresStore],
) -> None:
    a, b, _ = trio
    await a.heartbeat()
    await b.heartbeat()  # two alive: the third never said so
    await created(a, "r1")
    assert not await a.hand_out("r1")  # 1 of 1 running: within ceil(1 / 2)
    await created(a, "r2")
    assert await a.hand_out("r2")  # 2 of 2: beyond ceil(2 / 2)
    assert rows(url(a), "SELECT owner, epoch FROM runs WHERE run_id = 'r2'") == [("", 0)]
    assert not await a.hand_out("r2")  # not its own any more
    assert await a.claim_expired(4) == []  # A holds its share already
    (taken,) = await b.claim_expired(4)
    assert (taken.run_id, taken.epoch) == ("r2", 1)  # its first driver's epoch


async def test_a_lone_runner_keeps_every_run(trio: list[PostgresStore]) -> None:
    a = trio[0]
    await a.heartbeat()
    for i in range(5):
        await created(a, f"r{i}")
        assert not await a.hand_out(f"r{i}")


async def test_no_runner_claims_more_than_its_fair_share(trio: list[PostgresStore]) -> None:
    a, b, c = trio
    for store in trio:
        await store.heartbeat()
    for i in range(7):
        await created(c, f"r{i}")
    await c.leave()  # C stops: A and B share its runs, whose leases just ran out
    execute(url(a), f"UPDATE runs SET lease_until = {NOW}")

    first = await a.claim_expired(10)
    second = await b.claim_expired(10)
    assert (len(first), len(second)) == (4, 3)  # ceil(7 / 2), then what is left
    assert await a.claim_expired(10) == []


async def test_runs_unclaimed_past_the_grace_are_anyones(trio: list[PostgresStore]) -> None:
    a, b, _ = trio
    await a.heartbeat()
    await b.heartbeat()  # alive, but (say) at its --max-runs: it claims nothing
    for i in range(4):
        await created(b, f"r{i}")
    await b.release_leases([f"r{i}" for i in range(4)])  # ran out long ago

    assert len(await a.claim_expired(10)) == 4  # beyond its share of 2: overdue


async def test_a_dead_runner_is_not_counted_alive(trio: list[PostgresStore]) -> None:
    a, b, _ = trio
    await a.heartbeat()
    await b.heartbeat()
    execute(url(a), f"UPDATE runners SET alive_until = 0 WHERE runner_id = '{b.runner_id}'")
    await created(a, "r1")
    await created(a, "r2")
    assert not await a.hand_out("r2")  # alone alive: its share is every run


async def test_a_duty_is_one_runners_until_it_leaves_or_its_lease_runs_out(
    trio: list[PostgresStore],
) -> None:
    a, b, c = trio
    assert await a.hold_duty("leader")
    assert not await b.hold_duty("leader")
    assert await a.hold_duty("leader")  # kept
    assert await b.hold_duty("other")  # duties are apart
    await a.leave()
    assert await b.hold_duty("leader")
    execute(url(a), "UPDATE duties SET lease_until = 0")  # B paused past its lease
    assert await c.hold_duty("leader")
    assert not await b.hold_duty("leader")  # B woke up: C has it


async def test_runs_handed_out_and_schedule_changes_are_news_to_the_others(
    trio: list[PostgresStore],
) -> None:
    a, b, _ = trio
    heard = b.committed_elsewhere()
    assert await anext(heard) == RECONNECTED
    await a.heartbeat()
    await b.heartbeat()
    await created(a, "r1")
    await created(a, "r 2")  # an id with a space
    assert await a.hand_out("r 2")
    await a.schedule_changed("nightly")
    news = [await asyncio.wait_for(anext(heard), 5) for _ in range(4)]
    assert news == [
        Committed("r1", first=1),
        Committed("r 2", first=1),
        Committed("r 2", first=1, unowned=True),
        ScheduleChanged("nightly"),
    ]
    await heard.aclose()  # type: ignore[attr-defined]
