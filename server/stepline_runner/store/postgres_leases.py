"""Leases on PostgreSQL: the statements behind several runners sharing one
database (engine/leases.py says how the runners use them).

A run's row names its `owner` (a runner's id) and `lease_until`; times are
the database server's clock (`clock_timestamp()`), so runners need not agree
on theirs. Every claim raises the run's epoch; `claim_expired` takes rows
with `FOR UPDATE SKIP LOCKED`, so runners claiming at once split the expired
runs between them instead of queueing on each other's locks.

Commits announce themselves on the channel `stepline_events` (news.py says
what a payload holds), so that a runner serving a `WatchRun` of a run
another runner drives reads the new events at once; the events table stays
the truth, and a missed notification costs latency, never events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from typing import Any

import psycopg
from psycopg import AsyncConnection

from stepline.v1 import runner_pb2

from ..statuses import RUNNING
from .news import RECONNECTED, News, parse
from .postgres_runners import CHANNEL, SPARE, named
from .rows import RUN_COLUMNS, run_row

Connection = AsyncConnection[tuple[Any, ...]]
log = logging.getLogger(__name__)

NOW = "extract(epoch from clock_timestamp())"
_RUNNING = sorted(RUNNING)


async def claim(db: Connection, run_id: str, owner: str, lease: float) -> int:
    """Take the run in hand for `owner`: its next epoch (0: no such run)."""
    cursor = await db.execute(
        f"UPDATE runs SET epoch = epoch + 1, owner = %s, lease_until = {NOW} + %s"
        " WHERE run_id = %s RETURNING epoch",
        (owner, lease, run_id),
    )
    row = await cursor.fetchone()
    return 0 if row is None else int(row[0])


async def lease(db: Connection, run_id: str, owner: str, lease: float) -> None:
    """`owner` holds the run's lease (it created it), at the run's epoch."""
    await db.execute(
        f"UPDATE runs SET owner = %s, lease_until = {NOW} + %s WHERE run_id = %s",
        (owner, lease, run_id),
    )


async def renew(db: Connection, owner: str, lease: float, run_ids: Collection[str]) -> set[str]:
    """Extend `owner`'s leases of those runs; the ids it still holds."""
    cursor = await db.execute(
        f"UPDATE runs SET lease_until = {NOW} + %s WHERE owner = %s AND run_id = ANY(%s)"
        " RETURNING run_id",
        (lease, owner, list(run_ids)),
    )
    return {str(r[0]) for r in await cursor.fetchall()}


async def release(db: Connection, owner: str, run_ids: Collection[str]) -> None:
    """End `owner`'s leases of those runs now, and tell the others (as
    postgres_runners.hand_out does): one with room claims each at once."""
    await db.execute(
        "WITH released AS (UPDATE runs SET lease_until = 0"
        " WHERE owner = %(owner)s AND run_id = ANY(%(run_ids)s) RETURNING run_id, last_sequence)"
        " SELECT pg_notify(%(channel)s, %(owner)s || ' ' || (last_sequence + 1) || ' n ' || run_id)"
        " FROM released",
        {"owner": owner, "run_ids": list(run_ids), "channel": CHANNEL},
    )


async def claim_expired(
    db: Connection, owner: str, lease: float, limit: int
) -> list[runner_pb2.Run]:
    """Take over at most `limit` running runs whose lease ran out (or that
    nobody drove yet), each at its next epoch, skipping rows another runner is
    claiming right now; never more than this runner's fair share (SPARE)."""
    cursor = await db.execute(
        "UPDATE runs SET epoch = epoch + 1, owner = %(owner)s,"
        f" lease_until = {NOW} + %(lease)s"
        " WHERE run_id IN (SELECT run_id FROM runs WHERE status = ANY(%(running)s)"
        f" AND lease_until < {NOW} ORDER BY lease_until LIMIT least(%(limit)s, {SPARE})"
        f" FOR UPDATE SKIP LOCKED) RETURNING {RUN_COLUMNS}",
        named(owner, lease=lease, limit=limit, grace=lease),
    )
    return [run_row(r) for r in await cursor.fetchall()]


async def held_elsewhere(db: Connection, run_id: str, owner: str) -> bool:
    """Another runner than `owner` holds a live lease of the running run."""
    cursor = await db.execute(
        "SELECT 1 FROM runs WHERE run_id = %s AND owner NOT IN ('', %s)"
        f" AND lease_until > {NOW} AND status = ANY(%s)",
        (run_id, owner, _RUNNING),
    )
    return await cursor.fetchone() is not None


async def announce(db: Connection, run_id: str, owner: str, first: int) -> None:
    """Tell the other runners the run has new events from sequence `first` on
    (sent at commit)."""
    await db.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{owner} {first} c {run_id}"))


async def announce_schedule(db: Connection, schedule_id: str, owner: str) -> None:
    """Tell the other runners (the leader) the schedule changed."""
    await db.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{owner} 0 s {schedule_id}"))


async def listen(dsn: str, runner_id: str) -> AsyncIterator[News]:
    """Other runners' commits, as they do them, on a connection of its own;
    RECONNECTED each time it (re)connects, since notifications sent while it
    was away are lost (the caller then rereads everything)."""
    pause = 0.1
    while True:
        try:
            async with await AsyncConnection.connect(dsn, autocommit=True) as db:
                await db.execute(f"LISTEN {CHANNEL}")
                pause = 0.1
                yield RECONNECTED
                async for note in db.notifies():
                    news = parse(note.payload, runner_id)
                    if news is not None:
                        yield news
        except psycopg.Error as exc:
            log.warning("listening for other runners' commits: %s; again in %gs", exc, pause)
        await asyncio.sleep(pause)  # backoff while the database is away
        pause = min(pause * 2, 5.0)


def in_time(lease_seconds: float) -> Callable[[Connection], Awaitable[None]]:
    """Several runners: the server ends a transaction left open longer than a
    lease (its runner paused or cut off), so that the rows it locked (a run's)
    are not kept from the runner taking the run over."""

    async def configure(db: Connection) -> None:
        timeout = max(1, int(lease_seconds * 1000))
        await db.execute(f"SET idle_in_transaction_session_timeout = {timeout}")

    return configure
