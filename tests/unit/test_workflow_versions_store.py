"""Workflow versions in the store: each registration a new immutable version,
and a database of schema version 3 migrated with its workflow as version 1."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from stepline.v1 import events_pb2 as E
from stepline.v1 import workflow_pb2
from stepline_runner.store import SqliteStore, Store
from stepline_runner.store.schema import SCHEMA_VERSION

DATA = Path(__file__).parent / "data"


def definition(endpoint: str) -> workflow_pb2.WorkflowDefinition:
    d = workflow_pb2.WorkflowDefinition(workflow_id="w", start_executor_id="x")
    d.executors.add(id="x", type="stage", endpoint=endpoint)
    return d


async def test_a_version_3_database_keeps_its_workflow_as_version_1_and_its_runs_on_it(
    tmp_path: Path,
) -> None:
    db = tmp_path / "stepline.db"
    with sqlite3.connect(db) as conn:  # what schema version 3 wrote, from its own file
        conn.executescript((DATA / "schema_v3.sql").read_text())

    store = await SqliteStore.open(db)
    try:
        run = await store.get_run("old")
        latest = await store.get_workflow("w")
        version = await store.put_workflow(definition("127.0.0.1:7002"), "sig-w")
        first = await store.get_workflow("w", 1)
        second = await store.get_workflow("w")
        (summary,), _ = await store.list_workflows(10, "")
    finally:
        await store.close()

    assert run is not None and (run.workflow_version, run.superstep) == (1, 2)
    assert run.status == E.RUN_STATUS_FAILED
    assert latest is not None and latest.version == 1
    assert latest.definition == definition("127.0.0.1:7001")
    assert version == 2
    assert first is not None and first.definition.executors[0].endpoint == "127.0.0.1:7001"
    assert second is not None and second.definition.executors[0].endpoint == "127.0.0.1:7002"
    assert (summary.workflow_id, summary.version) == ("w", 2)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


async def test_each_registration_is_a_new_version_and_older_ones_are_kept(store: Store) -> None:
    versions = [
        await store.put_workflow(definition(f"127.0.0.1:{port}"), "s") for port in (1, 2, 3)
    ]
    kept = [await store.get_workflow("w", v) for v in versions]
    missing = await store.get_workflow("w", 4)

    assert versions == [1, 2, 3]
    assert [k.definition.executors[0].endpoint for k in kept if k] == [
        "127.0.0.1:1",
        "127.0.0.1:2",
        "127.0.0.1:3",
    ]
    assert missing is None
