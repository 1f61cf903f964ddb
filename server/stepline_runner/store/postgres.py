"""`PostgresStore`: the store on a PostgreSQL server (`--store postgresql://...`).

The same records, layout and guarantees as `SqliteStore`: one transaction per
commit (checkpoint, events and run status), states by content hash,
retention and garbage collection. The reads and most statements are the
SQLite store's (reads.py, statements.py); what is PostgreSQL's own is here
and in postgres_writes.py (how writers of shared blobs lock them). Connections
come from a psycopg pool in autocommit mode: a read is one round trip, a
write an explicit transaction.

Without leases, one runner uses a database at a time: the store holds the
database's lock, and takes it again if its connection drops
(postgres_ownership.py). With `lease_seconds`, several runners share it, each
driving the runs it holds a lease of (postgres_leases.py, engine/leases.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from stepline.v1 import events_pb2, runner_pb2, workflow_pb2

from ..errors import StoreUnavailable
from .base import NewCheckpoint, RunUpdate
from .deletion import RunDeletion
from .news import News
from .opening import StoreOpenError
from .postgres_failures import connection_lost, describe, outcome_unknown, reason, translated
from .postgres_leases import (
    announce,
    announce_schedule,
    claim,
    claim_expired,
    held_elsewhere,
    in_time,
    lease,
    listen,
    release,
    renew,
)
from .postgres_ownership import OWNER_LOCK, own, retake, value
from .postgres_runners import hand_out, heartbeat, hold_duty, leave
from .postgres_schema import migrate
from .postgres_writes import (
    LOAD_STATES,
    Connection,
    delete_checkpoints,
    delete_run,
    insert_checkpoint,
    insert_events,
    pg,
)
from .reads import StoreReads
from .schedules import Schedules
from .statements import (
    CLAIM_RUN,
    INSERT_RUN,
    INSERT_WORKFLOW_VERSION,
    NEXT_WORKFLOW_VERSION,
    OLD_CHECKPOINTS,
    UPDATE_RUN,
    UPSERT_WORKFLOW,
    last_sequence,
    run_values,
    update_values,
    workflow_values,
)

log = logging.getLogger(__name__)
POOL_SIZE = 10
# `_write_in_turn`'s advisory locks, one a key (a workflow's registrations
# use OWNER_LOCK + 1, its admissions + 2).
IN_TURN_LOCK = OWNER_LOCK + 3
# How long a statement waits for a free (or new) connection: SQLite's busy timeout.
WAIT = 5.0


class PostgresStore(Schedules, StoreReads):
    WORKFLOW_ORDER = "seq"
    LOAD_STATES = LOAD_STATES

    def __init__(
        self,
        pool: AsyncConnectionPool[Connection],
        owner: Connection | None,
        dsn: str = "",
        runner_id: str = "",
        lease_seconds: float = 0.0,
    ) -> None:
        self._pool = pool
        self._owner = owner
        self._dsn = dsn
        # Shared by several runners (leases, postgres_leases.py): this
        # runner's id, and how long its leases last unless renewed.
        self.runner_id = runner_id
        self.lease_seconds = lease_seconds
        # Without leases: whether this store holds the database's lock right
        # now, and, once another runner took it, `lost`.
        self._owned = True
        self.lost = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None
        if owner is not None:
            self._keeper = asyncio.create_task(self._keep_owning(), name="database-lock")
        # Admission locks held at once: each holds a connection while the
        # decision it guards takes others from the pool.
        self._admitting = asyncio.Semaphore(max(1, pool.max_size // 2))

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        exclusive: bool = True,
        pool_size: int = POOL_SIZE,
        timeout: float = 10,
        lease_seconds: float = 0.0,
    ) -> PostgresStore:
        """Connect, migrate the schema, and (with `exclusive`) take the database
        for this runner, or (with `lease_seconds`, not exclusive) share it with
        other runners through leases of that length. `StoreOpenError`,
        `SchemaError` or `DatabaseInUse` say why not."""
        where = describe(dsn)
        try:
            conninfo_to_dict(dsn)
        except psycopg.ProgrammingError as exc:
            # psycopg quotes the text, or the part it cannot decode: a password.
            said = reason(exc, dsn)
            raise StoreOpenError(f"not a PostgreSQL URL the runner can use: {said}") from None
        try:
            first = await psycopg.AsyncConnection.connect(
                dsn, autocommit=True, connect_timeout=max(1, int(timeout))
            )
        except psycopg.Error as exc:
            raise StoreOpenError(f"cannot connect to {where}: {reason(exc, dsn)}") from None
        try:
            await migrate(first)
            if exclusive:
                await own(first, where)
            pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
                dsn,
                min_size=1,
                max_size=pool_size,
                kwargs={"autocommit": True},
                open=False,
                timeout=WAIT,
                # A server that was away is tried afresh (without the backoff
                # of many failed attempts) by the first statement after WAIT.
                reconnect_timeout=WAIT,
                name="stepline",
                configure=in_time(lease_seconds) if lease_seconds else None,
            )
            try:
                await pool.open(wait=True, timeout=timeout)
            except BaseException:
                await pool.close()
                raise
        except (psycopg.Error, PoolTimeout) as exc:
            await first.close()
            raise StoreOpenError(f"cannot use {where}: {reason(exc, dsn)}") from None
        except BaseException:
            await first.close()
            raise
        if not exclusive:
            await first.close()
        runner_id = uuid.uuid4().hex if lease_seconds else ""
        return cls(pool, first if exclusive else None, dsn, runner_id, lease_seconds)

    async def close(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
        await self._pool.close()
        if self._owner is not None:
            await self._owner.close()

    async def _keep_owning(self) -> None:
        """Hold the database's lock while the store is open: when the
        connection holding it drops, take it again on a new one (writes are
        refused meanwhile); if another runner has it by then, set `lost`."""
        where = describe(self._dsn)
        while self._owner is not None:
            try:
                async for _ in self._owner.notifies():  # returns only when the connection drops
                    pass
            except psycopg.Error as exc:
                log.warning("the connection holding %s's lock dropped (%s)", where, reason(exc))
            self._owned = False
            owner = await retake(self._dsn)
            await self._owner.close()
            self._owner = owner
            if owner is None:
                log.error("another runner took %s while this one's lock was away", where)
                self.lost.set()
                return
            log.info("took %s's lock again", where)
            self._owned = True

    @asynccontextmanager
    async def transaction(self, pipeline: bool = True) -> AsyncIterator[Connection]:
        """A connection in a transaction: committed on success, else rolled back.
        In pipeline mode: statements go out without waiting for each other's
        answers, until one is read (and at the commit), so a commit of a
        superstep costs two round trips, not one per statement (COPY needs
        `pipeline=False`). PostgreSQL's failures leave it as the runner's
        errors (`translated`); a connection lost once the block is done, while
        COMMIT is sent or answered, is `CommitOutcomeUnknown`: the server may
        have committed."""
        if not self._owned:
            raise StoreUnavailable(
                "the runner is taking its database's lock again after the server went away: "
                "nothing was changed. Try again shortly"
            )
        async with translated(), self._pool.connection() as db:
            committing = False
            try:
                async with AsyncExitStack() as stack:
                    if pipeline:
                        await stack.enter_async_context(db.pipeline())
                    await stack.enter_async_context(db.transaction())
                    yield db
                    committing = True  # leaving the stack sends COMMIT
            except psycopg.Error as exc:
                if committing and connection_lost(exc):
                    raise outcome_unknown(exc) from exc
                raise

    # -- writes

    async def put_workflow(
        self, definition: workflow_pb2.WorkflowDefinition, signature: str
    ) -> int:
        now = time.time()
        data = definition.SerializeToString()
        workflow_id = definition.workflow_id
        async with self.transaction() as db:
            # Registrations of one workflow, in turn: each takes the next version.
            await db.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (OWNER_LOCK + 1, workflow_id)
            )
            version = int(await value(db, pg(NEXT_WORKFLOW_VERSION), (workflow_id,)))
            await db.execute(
                pg(INSERT_WORKFLOW_VERSION), (workflow_id, version, data, signature, now)
            )
            await db.execute(
                pg(UPSERT_WORKFLOW), workflow_values(workflow_id, data, signature, now, version)
            )
        return version

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
                pg(INSERT_RUN), run_values(run, input_hash, checkpoint, len(events), now)
            )
            if self.runner_id:  # its creator holds its lease; the others' watchers hear of it
                await lease(db, run.run_id, self.runner_id, self.lease_seconds)
                await announce(db, run.run_id, self.runner_id, 1)
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
            # The run's row first: its lock orders this run's commits. Its
            # answer (the events' numbers) is awaited once the checkpoint's
            # statements were sent too: one round trip for all of them.
            values = update_values(run_id, update, checkpoint, len(events), now)
            updated = await db.execute(pg(UPDATE_RUN), values)
            if checkpoint is not None:
                await insert_checkpoint(db, run_id, checkpoint, now)
                if keep_last:
                    cursor = await db.execute(pg(OLD_CHECKPOINTS), (run_id, run_id, keep_last))
                    old = [str(r[0]) for r in await cursor.fetchall()]
                    await delete_checkpoints(db, run_id, old)
            sequence = last_sequence(await updated.fetchone(), run_id, update)
            if self.runner_id and events:  # sent at commit, for the other runners' watchers
                await announce(db, run_id, self.runner_id, sequence - len(events) + 1)
            return await insert_events(db, run_id, events, last_sequence=sequence)

    async def claim_run(self, run_id: str) -> int:
        async with self.transaction() as db:
            if self.runner_id:
                return await claim(db, run_id, self.runner_id, self.lease_seconds)
            cursor = await db.execute(pg(CLAIM_RUN), (run_id,))
            row = await cursor.fetchone()
        return 0 if row is None else int(row[0])

    # -- leases (several runners on one database: postgres_leases.py)

    async def renew_leases(self, run_ids: Collection[str]) -> set[str]:
        async with self.transaction() as db:
            return await renew(db, self.runner_id, self.lease_seconds, run_ids)

    async def release_leases(self, run_ids: Collection[str]) -> None:
        async with self.transaction() as db:
            await release(db, self.runner_id, run_ids)

    async def claim_expired(self, limit: int) -> list[runner_pb2.Run]:
        async with self.transaction() as db:
            return await claim_expired(db, self.runner_id, self.lease_seconds, limit)

    async def held_elsewhere(self, run_id: str) -> bool:
        async with translated(), self._pool.connection() as db:
            return await held_elsewhere(db, run_id, self.runner_id)

    def committed_elsewhere(self) -> AsyncIterator[News]:
        return listen(self._dsn, self.runner_id)

    async def schedule_changed(self, schedule_id: str) -> None:
        async with translated(), self._pool.connection() as db:
            await announce_schedule(db, schedule_id, self.runner_id)

    async def heartbeat(self) -> None:
        async with self.transaction() as db:
            await heartbeat(db, self.runner_id, self.lease_seconds)

    async def leave(self) -> None:
        async with self.transaction() as db:
            await leave(db, self.runner_id)

    async def hand_out(self, run_id: str) -> bool:
        async with translated(), self._pool.connection() as db:
            return await hand_out(db, self.runner_id, run_id)

    @asynccontextmanager
    async def admitting(self, workflow_id: str) -> AsyncIterator[None]:
        """Hold the workflow's admission lock across runners: a session
        advisory lock (not a transaction's, which the server ends after a
        lease idle), dropped with its connection if that breaks."""
        key = (OWNER_LOCK + 2, workflow_id)
        async with self._admitting, self._pool.connection() as db:
            async with translated():
                await db.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", key)
            try:
                yield
            finally:
                try:
                    await db.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", key)
                except psycopg.Error:
                    await db.close()  # never back in the pool holding it

    async def hold_duty(self, duty: str) -> bool:
        async with translated(), self._pool.connection() as db:
            return await hold_duty(db, duty, self.runner_id, self.lease_seconds)

    async def delete_run(self, run_id: str) -> RunDeletion:
        async with self.transaction() as db:
            return await delete_run(db, run_id)

    async def delete_checkpoint(self, run_id: str, checkpoint_id: str) -> int:
        async with self.transaction() as db:
            return await delete_checkpoints(db, run_id, [checkpoint_id])

    # -- helpers of reads.py and schedules.py

    async def _write(self, sql: str, params: Sequence[Any]) -> int:
        async with self.transaction() as db:
            cursor = await db.execute(pg(sql), params)
        return int(cursor.rowcount)

    async def _write_in_turn(self, key: str, sql: str, params: Sequence[Any]) -> int:
        # Read committed: without the lock, two runners' statements would each
        # count the rows committed before either inserted.
        async with self.transaction() as db:
            await db.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (IN_TURN_LOCK, key))
            cursor = await db.execute(pg(sql), params)
        return int(cursor.rowcount)

    async def _all(self, sql: str, params: Sequence[Any]) -> list[Any]:
        async with translated(), self._pool.connection() as db:
            cursor = await db.execute(pg(sql), params)
            return await cursor.fetchall()
