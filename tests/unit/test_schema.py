"""The database schema has a version: older ones migrate, newer ones are refused."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from pathlib import Path

import pytest

from stepline_runner.store import RunFilter, SqliteStore
from stepline_runner.store.schema import SCHEMA_VERSION
from stepline_runner.store.sqlite import DatabaseInUse, SchemaError
from tests.support.processes import refused_start


async def test_a_schema_from_the_future_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "stepline.db"
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")

    with pytest.raises(SchemaError, match="newer than this runner's"):
        await SqliteStore.open(db)


async def test_the_runner_says_so_and_exits(tmp_path: Path) -> None:
    db = tmp_path / "stepline.db"
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    returncode, stderr = await refused_start("--db", str(db), "--port", "0")

    assert returncode == 2
    assert b"upgrade Stepline" in stderr and b"Traceback" not in stderr


async def test_a_version_1_database_is_migrated_with_its_runs_and_states(
    tmp_path: Path,
) -> None:
    db = tmp_path / "stepline.db"
    state = b'{"n":1}'
    digest = hashlib.sha256(state).hexdigest()
    with sqlite3.connect(db) as conn:  # what Stepline's first schema wrote
        conn.executescript((Path(__file__).parent / "data" / "schema_v1.sql").read_text())
        conn.execute(
            "INSERT INTO runs (run_id, workflow_id, status, superstep, latest_checkpoint_id,"
            " parent_checkpoint_id, parent_run_id, last_sequence, graph_signature, input_hash,"
            " created_at, updated_at) VALUES ('old', 'w', 4, 3, 'c3', '', '', 9, 's', 'h', 0, 0)"
        )
        conn.execute(
            "INSERT INTO checkpoints (checkpoint_id, run_id, superstep, parent_checkpoint_id,"
            " graph_signature, created_at, content) VALUES ('c3', 'old', 3, '', 's', 0, x'')"
        )
        conn.execute("INSERT INTO blobs VALUES (?, ?)", (digest, state))
        conn.execute(
            "INSERT INTO checkpoint_states VALUES ('c3', 'x', ?, 'x.state', 'application/json')",
            (digest,),
        )
        conn.execute("PRAGMA user_version = 1")

    store = await SqliteStore.open(db)
    try:
        run = await store.get_run("old")
        checkpoint = await store.get_checkpoint("c3", include_content=True)
        # What was there before namespaces is in "default".
        default, _ = await store.list_runs("", 10, "", RunFilter(namespace="default"))
        elsewhere, _ = await store.list_runs("", 10, "", RunFilter(namespace="team-a"))
    finally:
        await store.close()

    assert run is not None and run.superstep == 3 and run.last_sequence == 9
    assert [r.run_id for r in default] == ["old"] and elsewhere == []
    assert not run.HasField("checkpoint_policy")
    assert checkpoint is not None
    assert checkpoint.content.executor_states["x"].data == state
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


def test_a_file_that_is_not_a_stepline_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE mine (x)")

    with pytest.raises(SchemaError, match="not a Stepline database"):
        asyncio.run(SqliteStore.open(db))


async def test_a_second_runner_on_the_same_file_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "stepline.db"
    first = await SqliteStore.open(db)
    try:
        with pytest.raises(DatabaseInUse, match="another runner has"):
            await SqliteStore.open(db)
    finally:
        await first.close()
    second = await SqliteStore.open(db)  # free again once the first closed
    await second.close()
