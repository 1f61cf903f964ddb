"""A superstep's commit on SQLite numbers the run's events from what is
stored, whatever the store remembers of the run's last commit (a hint it
checks: writes.Known), and is fenced off all the same."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stepline.v1 import events_pb2 as E
from stepline.v1 import runner_pb2
from stepline_runner.errors import StaleEpoch
from stepline_runner.store.base import NewCheckpoint, RunUpdate
from stepline_runner.store.sqlite import SqliteStore


def checkpoint(superstep: int) -> NewCheckpoint:
    return NewCheckpoint(
        checkpoint_id=f"c{superstep}",
        superstep=superstep,
        parent_checkpoint_id=f"c{superstep - 1}" if superstep else "",
        graph_signature="g",
        states={},
        content=runner_pb2.CheckpointContent(),
    )


def step(superstep: int) -> list[E.Event]:
    return [
        E.Event(kind=E.EVENT_KIND_SUPERSTEP_STARTED, superstep=superstep),
        E.Event(kind=E.EVENT_KIND_SUPERSTEP_COMPLETED, superstep=superstep),
    ]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(tmp_path / "s.db")
    run = runner_pb2.Run(run_id="r", workflow_id="w", status=E.RUN_STATUS_RUNNING)
    await store.create_run(run, "", checkpoint(0), [E.Event(kind=E.EVENT_KIND_RUN_STARTED)])
    yield store
    await store.close()


async def commit(store: SqliteStore, superstep: int, epoch: int = 1) -> list[int]:
    update = RunUpdate(E.RUN_STATUS_RUNNING, superstep, epoch=epoch)
    events = await store.commit("r", update, step(superstep), checkpoint(superstep))
    return [e.sequence for e in events]


async def stored(store: SqliteStore) -> list[tuple[int, int]]:
    return [(e.sequence, e.superstep) for e in await store.read_events("r", 0, 100)]


async def test_events_are_numbered_on_from_a_commit_rolled_back_after_its_update(
    store: SqliteStore,
) -> None:
    assert await commit(store, 1) == [2, 3]

    # An event row in the way of superstep 2's second: its insert fails, after
    # the run's row was updated (and its new last sequence number noted).
    def block(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO events VALUES ('r', 5, 0, x'')")

    await store._writer.transaction(block)
    with pytest.raises(sqlite3.IntegrityError):
        await commit(store, 2)
    await store._writer.transaction(lambda db: db.execute("DELETE FROM events WHERE sequence = 5"))

    assert await commit(store, 2) == [4, 5]
    assert await commit(store, 3) == [6, 7]
    run = await store.get_run("r")
    assert run is not None and (run.last_sequence, run.superstep) == (7, 3)
    assert await stored(store) == [(1, 0), *((n, (n - 2) // 2 + 1) for n in range(2, 8))]


async def test_a_run_changed_behind_the_stores_back_is_numbered_from_what_is_stored(
    store: SqliteStore,
) -> None:
    assert await commit(store, 1) == [2, 3]
    behind = "UPDATE runs SET last_sequence = 10, status = ?"
    await store._writer.transaction(lambda db: db.execute(behind, (E.RUN_STATUS_QUEUED,)))

    assert await commit(store, 2) == [11, 12]
    run = await store.get_run("r")
    assert run is not None and (run.last_sequence, run.status) == (12, E.RUN_STATUS_RUNNING)


async def test_a_known_run_is_fenced_off_all_the_same(store: SqliteStore) -> None:
    assert await commit(store, 1) == [2, 3]
    await store.claim_run("r")  # epoch 2

    with pytest.raises(StaleEpoch):
        await commit(store, 2, epoch=1)
    assert await commit(store, 2, epoch=2) == [4, 5]
    assert (await stored(store))[-1] == (5, 2)
