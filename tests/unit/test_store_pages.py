"""What a superstep's commit writes to the SQLite file, page by page (read
from the WAL): a commit that keeps the run's status leaves the two indexes
over the status alone, one that changes it moves the run in them; a small
state is written with its reference, a large one as a blob."""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stepline import payloads
from stepline.payloads import state_hash
from stepline.v1 import events_pb2 as E
from stepline.v1 import runner_pb2
from stepline_runner.errors import StaleEpoch
from stepline_runner.store.base import NewCheckpoint, RunFilter, RunUpdate, StateRef
from stepline_runner.store.sqlite import SqliteStore

STATUS_INDEXES = {"runs_by_status", "runs_by_workflow_status"}


def checkpoint(superstep: int, pad: str = "") -> NewCheckpoint:
    state = payloads.encode({"step": superstep, "pad": pad}, type_name="S")
    ref = StateRef(state_hash(state), state.type_name, state.content_type, state.data)
    return NewCheckpoint(
        checkpoint_id=f"c{superstep}",
        superstep=superstep,
        parent_checkpoint_id=f"c{superstep - 1}" if superstep else "",
        graph_signature="g",
        states={"x": ref},
        content=runner_pb2.CheckpointContent(),
        changed=frozenset({"x"}) if superstep else None,
    )


def events(superstep: int) -> list[E.Event]:
    return [
        E.Event(kind=E.EVENT_KIND_SUPERSTEP_STARTED, superstep=superstep),
        E.Event(kind=E.EVENT_KIND_SUPERSTEP_COMPLETED, superstep=superstep),
    ]


def written(database: Path) -> set[str]:
    """The B-trees whose pages the WAL holds (it was emptied before)."""
    wal = (database.parent / f"{database.name}-wal").read_bytes()
    (page_size,) = struct.unpack(">I", wal[8:12])
    pages = {
        struct.unpack(">I", wal[at : at + 4])[0]
        for at in range(32, len(wal) - page_size - 23, 24 + page_size)
    }
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        names = dict(db.execute("SELECT pageno, name FROM dbstat"))
    return {names.get(page, "(free)") for page in pages}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(tmp_path / "s.db")
    run = runner_pb2.Run(run_id="r", workflow_id="w", status=E.RUN_STATUS_RUNNING)
    await store.create_run(run, "", checkpoint(0), [])
    yield store
    await store.close()


async def commit_alone(
    store: SqliteStore, status: E.RunStatus, superstep: int, pad: str = ""
) -> None:
    """A superstep's commit, alone in the WAL."""
    await store._writer.call(lambda db: db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())
    update = RunUpdate(status, superstep, epoch=1)
    await store.commit("r", update, events(superstep), checkpoint(superstep, pad))


async def test_a_commit_that_keeps_the_status_writes_no_status_index(
    store: SqliteStore, tmp_path: Path
) -> None:
    await commit_alone(store, E.RUN_STATUS_RUNNING, 1)

    trees = written(tmp_path / "s.db")
    assert {"runs", "checkpoints", "events", "checkpoint_states"} <= trees
    assert not trees & STATUS_INDEXES  # before: both, every commit
    run = await store.get_run("r")
    assert run is not None
    assert (run.status, run.superstep, run.latest_checkpoint_id) == (E.RUN_STATUS_RUNNING, 1, "c1")


async def test_a_commit_that_changes_the_status_moves_the_run_in_its_indexes(
    store: SqliteStore, tmp_path: Path
) -> None:
    await commit_alone(store, E.RUN_STATUS_COMPLETED, 1)

    assert written(tmp_path / "s.db") >= STATUS_INDEXES
    for status, found in ((E.RUN_STATUS_COMPLETED, ["r"]), (E.RUN_STATUS_RUNNING, [])):
        where = RunFilter(statuses=frozenset({status}))
        for workflow_id in ("", "w"):  # runs_by_status, runs_by_workflow_status
            runs, _ = await store.list_runs(workflow_id, 10, "", where)
            assert [r.run_id for r in runs] == found


async def test_a_stale_commit_changes_neither_the_run_nor_its_status(store: SqliteStore) -> None:
    await store.claim_run("r")  # epoch 2: the commits of epoch 1 are refused

    with pytest.raises(StaleEpoch):
        await commit_alone(store, E.RUN_STATUS_COMPLETED, 1)

    run = await store.get_run("r")
    assert run is not None
    assert (run.status, run.superstep, run.last_sequence) == (E.RUN_STATUS_RUNNING, 0, 0)


async def test_a_small_state_is_written_with_its_reference_alone(
    store: SqliteStore, tmp_path: Path
) -> None:
    await commit_alone(store, E.RUN_STATUS_RUNNING, 1)

    trees = written(tmp_path / "s.db")
    # No blob, no entry of the blobs' index, no AUTOINCREMENT counter: 4 of 12 pages.
    assert not trees & {"blobs", "checkpoint_states_by_blob", "sqlite_sequence"}
    loaded = await store.get_checkpoint("c1", include_content=True)
    assert loaded is not None
    assert payloads.json_value(loaded.content.executor_states["x"]) == {"step": 1, "pad": ""}


async def test_a_large_state_is_a_blob(store: SqliteStore, tmp_path: Path) -> None:
    await commit_alone(store, E.RUN_STATUS_RUNNING, 1, pad="p" * 600)

    assert {"blobs", "checkpoint_states_by_blob"} <= written(tmp_path / "s.db")
    loaded = await store.get_checkpoint("c1", include_content=True)
    assert loaded is not None
    state = payloads.json_value(loaded.content.executor_states["x"])
    assert state == {"step": 1, "pad": "p" * 600}
