"""The migration to schema 10 (checkpoints without AUTOINCREMENT, small states
kept in their references): a database the version 9 store wrote reads back
the same, and the store goes on with it."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from google.protobuf.message import Message

from stepline import payloads
from stepline.payloads import state_hash
from stepline.v1 import events_pb2 as E
from stepline.v1 import runner_pb2
from stepline_runner.store import SqliteStore
from stepline_runner.store.base import NewCheckpoint, RunUpdate, StateRef
from stepline_runner.store.schema import SCHEMA_VERSION
from stepline_runner.store.usage import read_usage

DATA = Path(__file__).parent / "data"


def version_9(path: Path) -> Path:
    """The database of data/store_v9.sql: what the version 9 store wrote."""
    with closing(sqlite3.connect(path)) as db:
        db.executescript((DATA / "store_v9.sql").read_text())
        db.execute("PRAGMA user_version = 9")
    return path


def digest(message: Message) -> str:
    return hashlib.sha256(message.SerializeToString(deterministic=True)).hexdigest()


async def reading(store: SqliteStore, run_ids: str = "abc") -> dict[str, Any]:
    """Everything the store answers about the runs, as data/store_v9.json has it."""
    found: dict[str, Any] = {}
    for run_id in run_ids:
        run = await store.get_run(run_id)
        assert run is not None
        events = await store.read_events(run_id, 0, 1000)
        listed, _ = await store.list_checkpoints(run_id, 100, "")
        checkpoints = []
        for c in listed:
            full = await store.get_checkpoint(c.checkpoint_id, include_content=True)
            assert full is not None
            checkpoints.append([c.checkpoint_id, digest(full)])
        found[run_id] = {
            "run": digest(run),
            "events": [digest(e) for e in events],
            "checkpoints": checkpoints,
        }
    return found


def small(value: int) -> StateRef:
    state = payloads.encode({"n": value}, type_name="S")
    return StateRef(state_hash(state), state.type_name, state.content_type, state.data)


async def test_a_version_9_database_reads_back_the_same(tmp_path: Path) -> None:
    db = version_9(tmp_path / "stepline.db")
    before = read_usage(db)  # a file not migrated yet reads too

    store = await SqliteStore.open(db)
    try:
        found = await reading(store)
    finally:
        await store.close()

    assert found == json.loads((DATA / "store_v9.json").read_text())
    assert [len(found[r]["checkpoints"]) for r in "abc"] == [4, 2, 2]  # a1 deleted, c: keep 2
    after = read_usage(db)
    assert after.state_bytes == before.state_bytes > 0  # the blobs stay blobs
    assert after.rows["checkpoints"] == before.rows["checkpoints"]
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert (
            conn.execute("SELECT name FROM sqlite_sequence WHERE name = 'checkpoints'").fetchall()
            == []
        )
        (table,) = conn.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'checkpoints'"
        ).fetchone()
        assert "AUTOINCREMENT" not in table
        inline = "SELECT count(*) FROM checkpoint_states WHERE data IS NOT NULL"
        assert conn.execute(inline).fetchone() == (0,)


async def test_the_store_goes_on_with_a_migrated_database(tmp_path: Path) -> None:
    db = version_9(tmp_path / "stepline.db")
    with closing(sqlite3.connect(db)) as conn:
        (old_seq,) = conn.execute("SELECT max(seq) FROM checkpoints").fetchone()
        old_blobs = {h for (h,) in conn.execute("SELECT hash FROM blobs")}

    store = await SqliteStore.open(db)
    try:
        c = await store.get_run("c")
        assert c is not None
        parent = c.latest_checkpoint_id
        for step in (4, 5):
            checkpoint = NewCheckpoint(
                f"c{step}", step, parent, "sig", {"x": small(step)},
                runner_pb2.CheckpointContent(), frozenset({"x"}),
            )  # fmt: skip
            update = RunUpdate(E.RUN_STATUS_RUNNING, step, epoch=1)
            event = E.Event(kind=E.EVENT_KIND_SUPERSTEP_COMPLETED, superstep=step)
            await store.commit("c", update, [event], checkpoint, keep_last=2)
            parent = checkpoint.checkpoint_id
        listed, _ = await store.list_checkpoints("c", 100, "")
        latest = await store.get_checkpoint("c5", include_content=True)
        deleted = await store.delete_run("a")
        fork = await reading(store, "b")
    finally:
        await store.close()

    assert [c.checkpoint_id for c in listed] == ["c4", "c5"]
    assert latest is not None
    assert payloads.json_value(latest.content.executor_states["x"]) == {"n": 5}
    with closing(sqlite3.connect(db)) as conn:
        seqs = [s for (s,) in conn.execute("SELECT seq FROM checkpoints WHERE run_id = 'c'")]
        inline = conn.execute(
            "SELECT since_seq, data FROM checkpoint_states WHERE run_id = 'c'"
        ).fetchall()
        blobs = {h for (h,) in conn.execute("SELECT hash FROM blobs")}
    assert min(seqs) > old_seq  # new checkpoints after every old one
    assert inline == [(seqs[0], b'{"n":4}'), (seqs[1], b'{"n":5}')]  # c's old states collected
    # Run a's blobs went, but for those its fork b uses, which reads the same.
    assert deleted.checkpoints == 4 and deleted.blobs > 0
    assert blobs < old_blobs
    assert fork["b"] == json.loads((DATA / "store_v9.json").read_text())["b"]
