"""`SqliteStore`: the embedded default store, one file, WAL, a single writer.
Its reads are written once for both stores, in reads.py.

All writes go through one connection and one lock, so a transaction is never
interleaved with another coroutine's; reads use a second connection, which
WAL lets proceed while a write is in progress.

Each statement is a hop to aiosqlite's thread (~0.1 ms), and a superstep's
commit sits on the run's critical path, so a commit is kept to few statements:
the transaction begins implicitly with the first write (isolation level
IMMEDIATE), and one `UPDATE runs ... RETURNING` both updates the run and
reserves the events' sequence numbers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import aiosqlite

from stepline.v1 import events_pb2, runner_pb2, workflow_pb2

from ..errors import StaleEpoch
from .base import NewCheckpoint, RunUpdate
from .deletion import RunDeletion, delete_run
from .failures import Transaction, translated
from .ownership import DatabaseInUse, own
from .reads import StoreReads
from .schedules import Schedules
from .schema import SchemaError, migrate
from .statements import (
    CLAIM_RUN,
    INSERT_CHECKPOINT,
    INSERT_RUN,
    INSERT_WORKFLOW_VERSION,
    NEXT_WORKFLOW_VERSION,
    UPDATE_RUN,
    UPSERT_WORKFLOW,
    checkpoint_values,
    run_values,
    update_values,
    workflow_values,
)
from .states import LOAD_STATES, CorruptBlob, insert_states
from .writes import delete_checkpoints, insert_events


class SqliteStore(Schedules, StoreReads):
    WORKFLOW_ORDER = "rowid"  # registration order; an upsert keeps a row's
    LOAD_STATES = LOAD_STATES

    def __init__(
        self, writer: aiosqlite.Connection, reader: aiosqlite.Connection, owner: IO[bytes]
    ) -> None:
        self._writer = writer
        self._reader = reader
        self._owner = owner
        self._lock = asyncio.Lock()

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
        writer = await aiosqlite.connect(str(path), isolation_level="IMMEDIATE")
        try:
            await writer.execute("PRAGMA journal_mode=WAL")
            await writer.execute(f"PRAGMA synchronous={synchronous}")
            await writer.execute("PRAGMA busy_timeout=5000")
            await migrate(writer)
        except BaseException:
            await writer.close()  # its thread would keep the process alive
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
        async with self._transaction() as db:
            rows = await db.execute_fetchall(NEXT_WORKFLOW_VERSION, (workflow_id,))
            version = int(next(iter(rows))[0])
            await db.execute(INSERT_WORKFLOW_VERSION, (workflow_id, version, data, signature, now))
            await db.execute(
                UPSERT_WORKFLOW, workflow_values(workflow_id, data, signature, now, version)
            )
        return version

    # -- runs

    async def create_run(
        self,
        run: runner_pb2.Run,
        input_hash: str,
        checkpoint: NewCheckpoint,
        events: list[events_pb2.Event],
    ) -> list[events_pb2.Event]:
        now = time.time()
        async with self._transaction() as db:
            await db.execute(INSERT_RUN, run_values(run, input_hash, checkpoint, len(events), now))
            await self._insert_checkpoint(db, run.run_id, checkpoint, now)
            return await insert_events(db, run.run_id, events, last_sequence=len(events))

    async def commit(
        self,
        run_id: str,
        update: RunUpdate,
        events: list[events_pb2.Event],
        checkpoint: NewCheckpoint | None = None,
        keep_last: int = 0,
    ) -> list[events_pb2.Event]:
        now = time.time()
        async with self._transaction() as db:
            if checkpoint is not None:
                await self._insert_checkpoint(db, run_id, checkpoint, now)
                if keep_last:
                    rows = await db.execute_fetchall(
                        "SELECT checkpoint_id FROM checkpoints WHERE run_id = ?"
                        " ORDER BY seq DESC LIMIT -1 OFFSET ?",
                        (run_id, keep_last),
                    )
                    await delete_checkpoints(db, run_id, [r[0] for r in rows])
            rows = await db.execute_fetchall(
                UPDATE_RUN, update_values(run_id, update, checkpoint, len(events), now)
            )
            if not rows:  # rolled back with the checkpoint: nothing of it is kept
                raise StaleEpoch(run_id, update.epoch, "its commit was refused")
            (row,) = rows
            return await insert_events(db, run_id, events, last_sequence=int(row[0]))

    async def claim_run(self, run_id: str) -> int:
        async with self._transaction() as db:
            rows = await db.execute_fetchall(CLAIM_RUN, (run_id,))
        row = next(iter(rows), None)
        return 0 if row is None else int(row[0])

    async def delete_run(self, run_id: str) -> RunDeletion:
        async with self._transaction() as db:
            return await delete_run(db, run_id)

    # -- checkpoints

    async def delete_checkpoint(self, run_id: str, checkpoint_id: str) -> int:
        async with self._transaction() as db:
            return await delete_checkpoints(db, run_id, [checkpoint_id])

    # -- helpers

    def _transaction(self) -> Transaction:
        return Transaction(self._writer, self._lock)

    async def _insert_checkpoint(
        self, db: aiosqlite.Connection, run_id: str, checkpoint: NewCheckpoint, now: float
    ) -> None:
        rows = await db.execute_fetchall(
            INSERT_CHECKPOINT, checkpoint_values(run_id, checkpoint, now)
        )
        (seq,) = next(iter(rows))
        await insert_states(db, run_id, seq, checkpoint.states, checkpoint.changed)

    async def _write(self, sql: str, params: Sequence[Any]) -> int:
        async with self._transaction() as db:
            cursor = await db.execute(sql, params)
            return int(cursor.rowcount)

    async def _all(self, sql: str, params: Sequence[Any]) -> list[Any]:
        # One call, so the statement is finished before any other coroutine's
        # query runs on this connection: a statement left open would pin the
        # read snapshot, and a run committed meanwhile would look missing.
        with translated():
            return list(await self._reader.execute_fetchall(sql, tuple(params)))


__all__ = [
    "CorruptBlob",
    "DatabaseInUse",
    "SchemaError",
    "SqliteStore",
]
