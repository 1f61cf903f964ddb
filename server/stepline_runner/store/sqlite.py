"""`SqliteStore`: the embedded default store, one file, WAL, a single writer.
Its reads are written once for both stores, in reads.py.

Every write is one transaction, a plain function run whole on the writer's
thread (`Writer`): a superstep's commit is one hop there and one back, and
commits of several runs that are ready at once share a transaction (group
commit, see `writer`). Reads use a second connection (aiosqlite), which WAL
lets proceed while a write is in progress. One `UPDATE runs` both updates
the run and reserves the events' sequence numbers: from the run's row as its
last commit left it (`writes.Known`), which the statement checks, else
read back (RETURNING).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

import aiosqlite

from stepline.v1 import events_pb2, runner_pb2, workflow_pb2

from .base import NewCheckpoint, RunUpdate
from .deletion import RunDeletion, delete_run
from .failures import reraise, translated
from .ownership import DatabaseInUse, own
from .reads import StoreReads
from .schedules import Schedules
from .schema import SchemaError, migrate
from .statements import (
    CLAIM_RUN,
    INSERT_RUN,
    INSERT_WORKFLOW_VERSION,
    NEXT_WORKFLOW_VERSION,
    OLD_CHECKPOINTS,
    UPSERT_WORKFLOW,
    event_bodies,
    run_values,
    workflow_values,
)
from .states import LOAD_STATES, CorruptBlob
from .writer import GROUP_BYTES, INLINE_BYTES, Writer
from .writes import Known, delete_checkpoints, insert_checkpoint, insert_events, update_run

T = TypeVar("T")
# The size of a write whose work is not known in advance: alone in its group, never inline.
UNSIZED = GROUP_BYTES


class SqliteStore(Schedules, StoreReads):
    WORKFLOW_ORDER = "rowid"  # registration order; an upsert keeps a row's
    LOAD_STATES = LOAD_STATES

    def __init__(self, writer: Writer, reader: aiosqlite.Connection, owner: IO[bytes]) -> None:
        self._writer = writer
        self._reader = reader
        self._owner = owner
        self._known = Known()  # used in write transactions only, one at a time

    @classmethod
    async def open(cls, path: str | Path, synchronous: str = "NORMAL") -> SqliteStore:
        owner = own(Path(path))
        try:
            return await cls._open(path, synchronous, owner)
        except BaseException:
            owner.close()
            raise

    @classmethod
    async def _open(cls, path: str | Path, synchronous: str, owner: IO[bytes]) -> SqliteStore:
        # Commits that need not wait for the disk may be made inline (see writer.py).
        inline = INLINE_BYTES if synchronous in ("NORMAL", "OFF") else 0
        # Both of the writer's connections: the checkpoints' too wait for the
        # disk as the commits' do.
        writer = Writer.connect(
            path, inline, [f"PRAGMA synchronous={synchronous}", "PRAGMA busy_timeout=5000"]
        )

        def setup(db: sqlite3.Connection) -> None:
            db.execute("PRAGMA journal_mode=WAL")
            migrate(db)

        try:
            await writer.call(setup)
        except BaseException:
            await writer.close()
            raise
        reader = await aiosqlite.connect(str(path), isolation_level=None)
        await reader.execute("PRAGMA busy_timeout=5000")
        return cls(writer, reader, owner)

    async def close(self) -> None:
        await self._reader.close()
        await self._writer.close()
        self._owner.close()

    # -- workflows

    async def put_workflow(
        self, definition: workflow_pb2.WorkflowDefinition, signature: str
    ) -> int:
        now = time.time()
        data = definition.SerializeToString()
        workflow_id = definition.workflow_id

        def put(db: sqlite3.Connection) -> int:
            (version,) = db.execute(NEXT_WORKFLOW_VERSION, (workflow_id,)).fetchone()
            db.execute(INSERT_WORKFLOW_VERSION, (workflow_id, version, data, signature, now))
            db.execute(UPSERT_WORKFLOW, workflow_values(workflow_id, data, signature, now, version))
            return int(version)

        return await self._transact(put, len(data))

    # -- runs

    async def create_run(
        self,
        run: runner_pb2.Run,
        input_hash: str,
        checkpoint: NewCheckpoint,
        events: list[events_pb2.Event],
    ) -> list[events_pb2.Event]:
        now = time.time()
        values = run_values(run, input_hash, checkpoint, len(events), now)
        bodies = event_bodies(events)

        def create(db: sqlite3.Connection) -> list[events_pb2.Event]:
            db.execute(INSERT_RUN, values)
            insert_checkpoint(db, run.run_id, checkpoint, now)
            self._known.note(run.run_id, len(events), run.status)
            return insert_events(db, run.run_id, events, bodies, last_sequence=len(events))

        return await self._transact(create, sum(map(len, bodies)) + checkpoint_bytes(checkpoint))

    async def commit(
        self,
        run_id: str,
        update: RunUpdate,
        events: list[events_pb2.Event],
        checkpoint: NewCheckpoint | None = None,
        keep_last: int = 0,
    ) -> list[events_pb2.Event]:
        now = time.time()
        # Encoded here, once: their sizes size the transaction (outputs can be large).
        bodies = event_bodies(events)

        def commit(db: sqlite3.Connection) -> list[events_pb2.Event]:
            if checkpoint is not None:
                insert_checkpoint(db, run_id, checkpoint, now)
                if keep_last:
                    rows = db.execute(OLD_CHECKPOINTS, (run_id, run_id, keep_last)).fetchall()
                    delete_checkpoints(db, run_id, [r[0] for r in rows])
            sequence = update_run(db, run_id, update, checkpoint, len(events), now, self._known)
            return insert_events(db, run_id, events, bodies, last_sequence=sequence)

        size = sum(map(len, bodies))
        if checkpoint is not None:
            size += checkpoint_bytes(checkpoint)
        return await self._transact(commit, size)

    async def claim_run(self, run_id: str) -> int:
        def claim(db: sqlite3.Connection) -> int:
            row = db.execute(CLAIM_RUN, (run_id,)).fetchone()
            return 0 if row is None else int(row[0])

        return await self._transact(claim)

    # Deletions take time in proportion to what they delete (a long run's
    # events: 200,000 in about 0.3 s): never inline, on the event loop.
    async def delete_run(self, run_id: str) -> RunDeletion:
        return await self._transact(lambda db: delete_run(db, run_id), UNSIZED)

    # -- checkpoints

    async def delete_checkpoint(self, run_id: str, checkpoint_id: str) -> int:
        def delete(db: sqlite3.Connection) -> int:
            return delete_checkpoints(db, run_id, [checkpoint_id])

        return await self._transact(delete, UNSIZED)

    # -- helpers

    async def _transact(self, work: Callable[[sqlite3.Connection], T], size: int = 0) -> T:
        """`work` in a write transaction; SQLite's failures as the runner's errors."""
        try:  # not `translated()`: a superstep's commit saves its generator's microsecond
            return await self._writer.transaction(work, size)
        except sqlite3.Error as exc:
            reraise(exc)

    async def _write(self, sql: str, params: Sequence[Any]) -> int:
        size = sum(len(p) for p in params if isinstance(p, bytes | str))  # a schedule's input
        return await self._transact(lambda db: int(db.execute(sql, params).rowcount), size)

    async def _write_in_turn(self, key: str, sql: str, params: Sequence[Any]) -> int:
        # One runner, one writer connection: every statement is in turn already.
        return await self._write(sql, params)

    async def _all(self, sql: str, params: Sequence[Any]) -> list[Any]:
        # One call, so the statement is finished before any other coroutine's
        # query runs on this connection: a statement left open would pin the
        # read snapshot, and a run committed meanwhile would look missing.
        with translated():
            return list(await self._reader.execute_fetchall(sql, tuple(params)))


def checkpoint_bytes(checkpoint: NewCheckpoint) -> int:
    """About how many bytes storing the checkpoint writes (its new states)."""
    return sum(len(s.data) for s in checkpoint.states.values() if s.data is not None)


__all__ = [
    "CorruptBlob",
    "DatabaseInUse",
    "SchemaError",
    "SqliteStore",
]
