"""`SqliteStore`: the embedded default store, one file, WAL, a single writer.

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
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import aiosqlite

from stepline.v1 import events_pb2, runner_pb2, workflow_pb2

from ..errors import StaleEpoch
from ..statuses import TERMINAL
from .base import NewCheckpoint, RunFilter, RunUpdate, StoredWorkflow
from .deletion import RunDeletion, delete_run
from .failures import Transaction, translated
from .ownership import DatabaseInUse, own
from .rows import (
    CHECKPOINT_COLUMNS,
    RUN_COLUMNS,
    checkpoint_row,
    decode_token,
    encode_token,
    last_within,
    run_row,
    workflow_row,
)
from .schedules import SqliteSchedules
from .schema import SchemaError, migrate
from .states import LOAD_STATES, CorruptBlob, decode_states, insert_states
from .writes import delete_checkpoints, insert_events

# Bytes of events one read returns at most (but always at least one event).
READ_BYTES = 4 * 1024 * 1024


class SqliteStore(SqliteSchedules):
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
        async with self._transaction() as db:
            rows = await db.execute_fetchall(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM workflow_versions WHERE workflow_id = ?",
                (definition.workflow_id,),
            )
            version = int(next(iter(rows))[0])
            data = definition.SerializeToString()
            await db.execute(
                "INSERT INTO workflow_versions VALUES (?, ?, ?, ?, ?)",
                (definition.workflow_id, version, data, signature, now),
            )
            await db.execute(
                "INSERT INTO workflows (workflow_id, definition, graph_signature, updated_at,"
                " version) VALUES (?, ?, ?, ?, ?) ON CONFLICT (workflow_id) DO UPDATE"
                " SET definition = excluded.definition, graph_signature = excluded.graph_signature,"
                " updated_at = excluded.updated_at, version = excluded.version",
                (definition.workflow_id, data, signature, now, version),
            )
        return version

    async def get_workflow(self, workflow_id: str, version: int = 0) -> StoredWorkflow | None:
        if version:
            row = await self._one(
                "SELECT definition, graph_signature, version FROM workflow_versions"
                " WHERE workflow_id = ? AND version = ?",
                (workflow_id, version),
            )
        else:
            row = await self._one(
                "SELECT definition, graph_signature, version FROM workflows WHERE workflow_id = ?",
                (workflow_id,),
            )
        if row is None:
            return None
        return StoredWorkflow(workflow_pb2.WorkflowDefinition.FromString(row[0]), row[1], row[2])

    async def list_workflows(
        self, page_size: int, page_token: str, max_bytes: int = READ_BYTES
    ) -> tuple[list[runner_pb2.WorkflowSummary], str]:
        # rowid: registration order; re-registering (an UPSERT) keeps it.
        after = decode_token(page_token)
        # Sizes first: a summary is made from the whole definition, and a page
        # of a thousand 1 MiB definitions must not be read (and parsed) at once.
        sizes = await self._all(
            "SELECT rowid, length(definition) FROM workflows WHERE rowid > ?"
            " ORDER BY rowid LIMIT ?",
            (after, page_size + 1),
        )
        last = last_within(sizes[:page_size], after, max_bytes)
        if last == after:
            return [], ""
        rows = await self._all(
            "SELECT definition, graph_signature, updated_at, version, rowid FROM workflows"
            " WHERE rowid > ? AND rowid <= ? ORDER BY rowid",
            (after, last),
        )
        token = encode_token(last) if sizes[-1][0] > last else ""
        return [workflow_row(r) for r in rows], token

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
            await db.execute(
                "INSERT INTO runs (run_id, workflow_id, status, superstep, latest_checkpoint_id,"
                " parent_checkpoint_id, parent_run_id, error, last_sequence, graph_signature,"
                " input_hash, created_at, updated_at, checkpoint_policy, workflow_version, epoch)"
                " VALUES (?,?,?,?,?,?,?,NULL,?,?,?,?,?,?,?,1)",
                (
                    run.run_id,
                    run.workflow_id,
                    run.status,
                    checkpoint.superstep,
                    checkpoint.checkpoint_id,
                    run.parent_checkpoint_id,
                    run.parent_run_id,
                    len(events),
                    run.graph_signature,
                    input_hash,
                    now,
                    now,
                    run.checkpoint_policy.SerializeToString()
                    if run.HasField("checkpoint_policy")
                    else None,
                    run.workflow_version or 1,
                ),
            )
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
                "UPDATE runs SET status = ?, superstep = ?, error = ?, updated_at = ?,"
                " latest_checkpoint_id = COALESCE(?, latest_checkpoint_id),"
                " workflow_version = COALESCE(NULLIF(?, 0), workflow_version),"
                " last_sequence = last_sequence + ? WHERE run_id = ? AND ? IN (0, epoch)"
                " RETURNING last_sequence",
                (
                    update.status,
                    update.superstep,
                    update.error.SerializeToString() if update.error else None,
                    now,
                    checkpoint.checkpoint_id if checkpoint else None,
                    update.workflow_version,
                    len(events),
                    run_id,
                    update.epoch,
                ),
            )
            if not rows:  # rolled back with the checkpoint: nothing of it is kept
                raise StaleEpoch(run_id, update.epoch, "its commit was refused")
            (row,) = rows
            return await insert_events(db, run_id, events, last_sequence=int(row[0]))

    async def claim_run(self, run_id: str) -> int:
        async with self._transaction() as db:
            rows = await db.execute_fetchall(
                "UPDATE runs SET epoch = epoch + 1 WHERE run_id = ? RETURNING epoch", (run_id,)
            )
        row = next(iter(rows), None)
        return 0 if row is None else int(row[0])

    async def get_run(self, run_id: str) -> runner_pb2.Run | None:
        row = await self._one(f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,))
        return None if row is None else run_row(row)

    async def get_run_input_hash(self, run_id: str) -> str | None:
        row = await self._one("SELECT input_hash FROM runs WHERE run_id = ?", (run_id,))
        return None if row is None else str(row[0])

    async def list_runs(
        self, workflow_id: str, page_size: int, page_token: str, where: RunFilter | None = None
    ) -> tuple[list[runner_pb2.Run], str]:
        where = where or RunFilter()
        conditions = ["seq < ?"]
        params: list[Any] = [decode_token(page_token) or 2**62]
        if workflow_id:
            conditions.append("workflow_id = ?")
            params.append(workflow_id)
        if where.statuses:
            conditions.append(f"status IN ({','.join('?' * len(where.statuses))})")
            params.extend(sorted(where.statuses))
        if where.created_after is not None:
            conditions.append("created_at >= ?")
            params.append(where.created_after)
        if where.created_before is not None:
            conditions.append("created_at < ?")
            params.append(where.created_before)
        rows = await self._all(
            f"SELECT {RUN_COLUMNS}, seq FROM runs WHERE {' AND '.join(conditions)}"
            " ORDER BY seq DESC LIMIT ?",
            (*params, page_size + 1),
        )
        token = encode_token(rows[page_size - 1][-1]) if len(rows) > page_size else ""
        return [run_row(r) for r in rows[:page_size]], token

    async def delete_run(self, run_id: str) -> RunDeletion:
        async with self._transaction() as db:
            return await delete_run(db, run_id)

    async def finished_runs_before(self, updated_before: float, limit: int) -> list[str]:
        rows = await self._all(
            f"SELECT run_id FROM runs WHERE status IN ({','.join('?' * len(TERMINAL))})"
            " AND updated_at < ? ORDER BY updated_at LIMIT ?",
            (*sorted(TERMINAL), updated_before, limit),
        )
        return [str(r[0]) for r in rows]

    async def list_unfinished_runs(self) -> list[runner_pb2.Run]:
        marks = ",".join("?" * len(TERMINAL))
        rows = await self._all(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE status NOT IN ({marks}) ORDER BY seq",
            sorted(TERMINAL),
        )
        return [run_row(r) for r in rows]

    async def count_runs(self, workflow_id: str, statuses: frozenset[int]) -> int:
        marks = ",".join("?" * len(statuses))
        row = await self._one(
            f"SELECT count(*) FROM runs WHERE workflow_id = ? AND status IN ({marks})",
            (workflow_id, *sorted(statuses)),
        )
        return int(row[0])

    async def oldest_runs(
        self, workflow_id: str, statuses: frozenset[int], limit: int
    ) -> list[runner_pb2.Run]:
        marks = ",".join("?" * len(statuses))
        rows = await self._all(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE workflow_id = ? AND status IN ({marks})"
            " ORDER BY seq LIMIT ?",
            (workflow_id, *sorted(statuses), limit),
        )
        return [run_row(r) for r in rows]

    # -- checkpoints

    async def list_checkpoints(
        self, run_id: str, page_size: int, page_token: str
    ) -> tuple[list[runner_pb2.Checkpoint], str]:
        after = decode_token(page_token)
        rows = await self._all(
            f"SELECT {CHECKPOINT_COLUMNS}, seq FROM checkpoints WHERE run_id = ? AND seq > ?"
            " ORDER BY seq LIMIT ?",
            (run_id, after, page_size + 1),
        )
        token = encode_token(rows[page_size - 1][-1]) if len(rows) > page_size else ""
        return [checkpoint_row(r) for r in rows[:page_size]], token

    async def get_checkpoint(
        self, checkpoint_id: str, include_content: bool, include_states: bool = True
    ) -> runner_pb2.Checkpoint | None:
        content = "content" if include_content else "NULL"
        row = await self._one(
            f"SELECT {CHECKPOINT_COLUMNS}, {content}, seq FROM checkpoints WHERE checkpoint_id = ?",
            (checkpoint_id,),
        )
        if row is None:
            return None
        checkpoint = checkpoint_row(row)
        if include_content:
            checkpoint.content.ParseFromString(row[-2])
        if include_content and include_states:
            rows = await self._all(LOAD_STATES, (checkpoint.run_id, row[-1]))
            for executor_id, state in decode_states(checkpoint_id, rows).items():
                checkpoint.content.executor_states[executor_id].CopyFrom(state)
        return checkpoint

    async def delete_checkpoint(self, run_id: str, checkpoint_id: str) -> int:
        async with self._transaction() as db:
            return await delete_checkpoints(db, run_id, [checkpoint_id])

    # -- events

    async def read_events(
        self, run_id: str, after_sequence: int, limit: int, max_bytes: int = READ_BYTES
    ) -> list[events_pb2.Event]:
        # Sizes first: a watcher catching up on a run of large outputs must
        # not hold `limit` of them at once.
        sizes = await self._all(
            "SELECT sequence, length(body) FROM events WHERE run_id = ? AND sequence > ?"
            " ORDER BY sequence LIMIT ?",
            (run_id, after_sequence, limit),
        )
        last = last_within(sizes, after_sequence, max_bytes)
        if last == after_sequence:
            return []
        rows = await self._all(
            "SELECT sequence, body FROM events WHERE run_id = ? AND sequence > ?"
            " AND sequence <= ? ORDER BY sequence",
            (run_id, after_sequence, last),
        )
        events = []
        for sequence, body in rows:
            event = events_pb2.Event.FromString(body)
            event.run_id, event.sequence = run_id, sequence
            events.append(event)
        return events

    async def answered_request_ids(self, run_id: str) -> set[str]:
        """The requests for input the run's log shows answered."""
        rows = await self._all(
            "SELECT body FROM events WHERE run_id = ? AND kind = ?",
            (run_id, events_pb2.EVENT_KIND_RESPONSE_RECEIVED),
        )
        return {events_pb2.Event.FromString(r[0]).request.request_id for r in rows}

    # -- helpers

    def _transaction(self) -> Transaction:
        return Transaction(self._writer, self._lock)

    async def _insert_checkpoint(
        self, db: aiosqlite.Connection, run_id: str, checkpoint: NewCheckpoint, now: float
    ) -> None:
        rows = await db.execute_fetchall(
            "INSERT INTO checkpoints (checkpoint_id, run_id, superstep, parent_checkpoint_id,"
            " graph_signature, created_at, content) VALUES (?,?,?,?,?,?,?) RETURNING seq",
            (
                checkpoint.checkpoint_id,
                run_id,
                checkpoint.superstep,
                checkpoint.parent_checkpoint_id,
                checkpoint.graph_signature,
                now,
                checkpoint.content.SerializeToString(),
            ),
        )
        (seq,) = next(iter(rows))
        await insert_states(db, run_id, seq, checkpoint.states, checkpoint.changed)

    async def _one(self, sql: str, params: Iterable[Any]) -> Any:
        rows = await self._all(sql, params)
        return rows[0] if rows else None

    async def _all(self, sql: str, params: Iterable[Any]) -> list[Any]:
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
