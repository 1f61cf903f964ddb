"""`PostgresStore`: the store on a PostgreSQL server (`--store postgresql://...`).

The same records, layout and guarantees as `SqliteStore`: one transaction per
commit (checkpoint, events and run status), states by content hash,
retention and garbage collection. Connections come from a psycopg pool in
autocommit mode: a read is one round trip, a write an explicit transaction.

Until runs are leased (several runners on one database), one runner uses a
database at a time: the store holds a session advisory lock on a connection of
its own, which the server drops when the runner's process dies.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool

from stepline.v1 import events_pb2, runner_pb2, workflow_pb2

from ..statuses import TERMINAL
from .base import READ_BYTES, NewCheckpoint, RunFilter, RunUpdate, StoredWorkflow
from .deletion import RunDeletion
from .opening import StoreOpenError
from .ownership import DatabaseInUse
from .postgres_failures import describe, translated
from .postgres_schema import migrate
from .postgres_writes import (
    LOAD_STATES,
    Connection,
    delete_checkpoints,
    delete_run,
    insert_checkpoint,
    insert_events,
)
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
from .states import decode_states

OWNER_LOCK = 0x53544550  # "STEP"; with hashtext(current_schema()) as the second key
POOL_SIZE = 10


class PostgresStore:
    def __init__(self, pool: AsyncConnectionPool[Connection], owner: Connection | None) -> None:
        self._pool = pool
        self._owner = owner

    @classmethod
    async def open(
        cls, dsn: str, *, exclusive: bool = True, pool_size: int = POOL_SIZE, timeout: float = 10
    ) -> PostgresStore:
        """Connect, migrate the schema, and (with `exclusive`) take the database
        for this runner. `StoreOpenError`, `SchemaError` or `DatabaseInUse` say why not."""
        where = describe(dsn)
        try:
            conninfo_to_dict(dsn)
        except psycopg.ProgrammingError as exc:
            # psycopg quotes the whole text, which may hold a password.
            reason = _reason(exc).replace(dsn, "...")
            raise StoreOpenError(f"not a PostgreSQL URL the runner can use: {reason}") from None
        try:
            first = await psycopg.AsyncConnection.connect(
                dsn, autocommit=True, connect_timeout=max(1, int(timeout))
            )
        except psycopg.Error as exc:
            raise StoreOpenError(f"cannot connect to {where}: {_reason(exc)}") from None
        try:
            await migrate(first)
            if exclusive:
                await _own(first, where)
            pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
                dsn,
                min_size=1,
                max_size=pool_size,
                kwargs={"autocommit": True},
                open=False,
                timeout=timeout,
                name="stepline",
            )
            await pool.open(wait=True, timeout=timeout)
        except psycopg.Error as exc:
            await first.close()
            raise StoreOpenError(f"cannot use {where}: {_reason(exc)}") from None
        except BaseException:
            await first.close()
            raise
        if not exclusive:
            await first.close()
        return cls(pool, first if exclusive else None)

    async def close(self) -> None:
        await self._pool.close()
        if self._owner is not None:
            await self._owner.close()

    # -- workflows

    async def put_workflow(
        self, definition: workflow_pb2.WorkflowDefinition, signature: str
    ) -> int:
        now = time.time()
        data = definition.SerializeToString()
        async with self.transaction() as db:
            # Registrations of one workflow, in turn: each takes the next version.
            await db.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                (OWNER_LOCK + 1, definition.workflow_id),
            )
            cursor = await db.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM workflow_versions"
                " WHERE workflow_id = %s",
                (definition.workflow_id,),
            )
            version = int((await _one(cursor))[0])
            await db.execute(
                "INSERT INTO workflow_versions VALUES (%s, %s, %s, %s, %s)",
                (definition.workflow_id, version, data, signature, now),
            )
            await db.execute(
                "INSERT INTO workflows (workflow_id, definition, graph_signature, updated_at,"
                " version) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (workflow_id) DO UPDATE"
                " SET definition = excluded.definition, graph_signature = excluded.graph_signature,"
                " updated_at = excluded.updated_at, version = excluded.version",
                (definition.workflow_id, data, signature, now, version),
            )
        return version

    async def get_workflow(self, workflow_id: str, version: int = 0) -> StoredWorkflow | None:
        if version:
            row = await self._one(
                "SELECT definition, graph_signature, version FROM workflow_versions"
                " WHERE workflow_id = %s AND version = %s",
                (workflow_id, version),
            )
        else:
            row = await self._one(
                "SELECT definition, graph_signature, version FROM workflows WHERE workflow_id = %s",
                (workflow_id,),
            )
        if row is None:
            return None
        return StoredWorkflow(workflow_pb2.WorkflowDefinition.FromString(row[0]), row[1], row[2])

    async def list_workflows(
        self, page_size: int, page_token: str, max_bytes: int = READ_BYTES
    ) -> tuple[list[runner_pb2.WorkflowSummary], str]:
        after = decode_token(page_token)
        # Sizes first, as in SqliteStore: a page is bounded in bytes too.
        sizes = await self._all(
            "SELECT seq, length(definition) FROM workflows WHERE seq > %s ORDER BY seq LIMIT %s",
            (after, page_size + 1),
        )
        last = last_within(sizes[:page_size], after, max_bytes)
        if last == after:
            return [], ""
        rows = await self._all(
            "SELECT definition, graph_signature, updated_at, version, seq FROM workflows"
            " WHERE seq > %s AND seq <= %s ORDER BY seq",
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
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO runs (run_id, workflow_id, status, superstep, latest_checkpoint_id,"
                " parent_checkpoint_id, parent_run_id, error, last_sequence, graph_signature,"
                " input_hash, created_at, updated_at, checkpoint_policy, workflow_version)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s,NULL,%s,%s,%s,%s,%s,%s,%s)",
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
            await insert_checkpoint(db, run.run_id, checkpoint, now)
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
        async with self.transaction() as db:
            # The run's row first: its lock orders this run's commits.
            cursor = await db.execute(
                "UPDATE runs SET status = %s, superstep = %s, error = %s, updated_at = %s,"
                " latest_checkpoint_id = COALESCE(%s, latest_checkpoint_id),"
                " workflow_version = COALESCE(NULLIF(%s, 0), workflow_version),"
                " last_sequence = last_sequence + %s WHERE run_id = %s RETURNING last_sequence",
                (
                    update.status,
                    update.superstep,
                    update.error.SerializeToString() if update.error else None,
                    now,
                    checkpoint.checkpoint_id if checkpoint else None,
                    update.workflow_version,
                    len(events),
                    run_id,
                ),
            )
            last_sequence = int((await _one(cursor))[0])
            if checkpoint is not None:
                await insert_checkpoint(db, run_id, checkpoint, now)
                if keep_last:
                    cursor = await db.execute(
                        "SELECT checkpoint_id FROM checkpoints WHERE run_id = %s"
                        " ORDER BY seq DESC OFFSET %s",
                        (run_id, keep_last),
                    )
                    old = [str(r[0]) for r in await cursor.fetchall()]
                    await delete_checkpoints(db, run_id, old)
            return await insert_events(db, run_id, events, last_sequence=last_sequence)

    async def get_run(self, run_id: str) -> runner_pb2.Run | None:
        row = await self._one(f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = %s", (run_id,))
        return None if row is None else run_row(row)

    async def get_run_input_hash(self, run_id: str) -> str | None:
        row = await self._one("SELECT input_hash FROM runs WHERE run_id = %s", (run_id,))
        return None if row is None else str(row[0])

    async def list_runs(
        self, workflow_id: str, page_size: int, page_token: str, where: RunFilter | None = None
    ) -> tuple[list[runner_pb2.Run], str]:
        where = where or RunFilter()
        conditions = ["seq < %s"]
        params: list[Any] = [decode_token(page_token) or 2**62]
        if workflow_id:
            conditions.append("workflow_id = %s")
            params.append(workflow_id)
        if where.statuses:
            conditions.append("status = ANY(%s)")
            params.append(sorted(where.statuses))
        if where.created_after is not None:
            conditions.append("created_at >= %s")
            params.append(where.created_after)
        if where.created_before is not None:
            conditions.append("created_at < %s")
            params.append(where.created_before)
        rows = await self._all(
            f"SELECT {RUN_COLUMNS}, seq FROM runs WHERE {' AND '.join(conditions)}"
            " ORDER BY seq DESC LIMIT %s",
            (*params, page_size + 1),
        )
        token = encode_token(rows[page_size - 1][-1]) if len(rows) > page_size else ""
        return [run_row(r) for r in rows[:page_size]], token

    async def delete_run(self, run_id: str) -> RunDeletion:
        async with self.transaction() as db:
            return await delete_run(db, run_id)

    async def finished_runs_before(self, updated_before: float, limit: int) -> list[str]:
        rows = await self._all(
            "SELECT run_id FROM runs WHERE status = ANY(%s) AND updated_at < %s"
            " ORDER BY updated_at LIMIT %s",
            (sorted(TERMINAL), updated_before, limit),
        )
        return [str(r[0]) for r in rows]

    async def list_unfinished_runs(self) -> list[runner_pb2.Run]:
        rows = await self._all(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE NOT status = ANY(%s) ORDER BY seq",
            (sorted(TERMINAL),),
        )
        return [run_row(r) for r in rows]

    async def count_runs(self, workflow_id: str, statuses: frozenset[int]) -> int:
        row = await self._one(
            "SELECT count(*) FROM runs WHERE workflow_id = %s AND status = ANY(%s)",
            (workflow_id, sorted(statuses)),
        )
        return int(row[0])

    async def oldest_runs(
        self, workflow_id: str, statuses: frozenset[int], limit: int
    ) -> list[runner_pb2.Run]:
        rows = await self._all(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE workflow_id = %s AND status = ANY(%s)"
            " ORDER BY seq LIMIT %s",
            (workflow_id, sorted(statuses), limit),
        )
        return [run_row(r) for r in rows]

    # -- checkpoints

    async def list_checkpoints(
        self, run_id: str, page_size: int, page_token: str
    ) -> tuple[list[runner_pb2.Checkpoint], str]:
        after = decode_token(page_token)
        rows = await self._all(
            f"SELECT {CHECKPOINT_COLUMNS}, seq FROM checkpoints WHERE run_id = %s AND seq > %s"
            " ORDER BY seq LIMIT %s",
            (run_id, after, page_size + 1),
        )
        token = encode_token(rows[page_size - 1][-1]) if len(rows) > page_size else ""
        return [checkpoint_row(r) for r in rows[:page_size]], token

    async def get_checkpoint(
        self, checkpoint_id: str, include_content: bool, include_states: bool = True
    ) -> runner_pb2.Checkpoint | None:
        content = "content" if include_content else "NULL"
        row = await self._one(
            f"SELECT {CHECKPOINT_COLUMNS}, {content}, seq FROM checkpoints"
            " WHERE checkpoint_id = %s",
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
        async with self.transaction() as db:
            return await delete_checkpoints(db, run_id, [checkpoint_id])

    # -- events

    async def read_events(
        self, run_id: str, after_sequence: int, limit: int, max_bytes: int = READ_BYTES
    ) -> list[events_pb2.Event]:
        sizes = await self._all(
            "SELECT sequence, length(body) FROM events WHERE run_id = %s AND sequence > %s"
            " ORDER BY sequence LIMIT %s",
            (run_id, after_sequence, limit),
        )
        last = last_within(sizes, after_sequence, max_bytes)
        if last == after_sequence:
            return []
        rows = await self._all(
            "SELECT sequence, body FROM events WHERE run_id = %s AND sequence > %s"
            " AND sequence <= %s ORDER BY sequence",
            (run_id, after_sequence, last),
        )
        events = []
        for sequence, body in rows:
            event = events_pb2.Event.FromString(body)
            event.run_id, event.sequence = run_id, sequence
            events.append(event)
        return events

    async def answered_request_ids(self, run_id: str) -> set[str]:
        rows = await self._all(
            "SELECT body FROM events WHERE run_id = %s AND kind = %s",
            (run_id, events_pb2.EVENT_KIND_RESPONSE_RECEIVED),
        )
        return {events_pb2.Event.FromString(r[0]).request.request_id for r in rows}

    # -- helpers

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """A connection in a transaction: committed on success, else rolled back.
        PostgreSQL's failures leave it as the runner's errors (`translated`)."""
        async with translated(), self._pool.connection() as db, db.transaction():
            yield db

    async def _one(self, sql: str, params: Sequence[Any]) -> Any:
        rows = await self._all(sql, params)
        return rows[0] if rows else None

    async def _all(self, sql: str, params: Sequence[Any]) -> list[Any]:
        async with translated(), self._pool.connection() as db:
            cursor = await db.execute(sql, params)
            return await cursor.fetchall()


async def _one(cursor: psycopg.AsyncCursor[tuple[Any, ...]]) -> tuple[Any, ...]:
    row = await cursor.fetchone()
    assert row is not None
    return row


async def _own(db: Connection, where: str) -> None:
    cursor = await db.execute(
        "SELECT pg_try_advisory_lock(%s, hashtext(current_schema()))", (OWNER_LOCK,)
    )
    if not (await _one(cursor))[0]:
        raise DatabaseInUse(
            f"another runner has {where} open; stop it, or give this one another --store"
        )


def _reason(exc: psycopg.Error) -> str:
    """What psycopg said, on one line and bounded."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "..."
