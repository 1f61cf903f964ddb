"""One runner per PostgreSQL database (without leases): the database's lock.

The store holds a session advisory lock on a connection of its own, which the
server drops when the runner's process dies, or when that connection drops
(the server restarted): then the store refuses writes until it took the lock
again on a new connection (`retake`), and if another runner took it meanwhile
it sets `lost` (the runner stops), so two runners never drive one database's
runs. The SQLite store's counterpart is ownership.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import psycopg

from .ownership import DatabaseInUse
from .postgres_writes import Connection

OWNER_LOCK = 0x53544550  # "STEP"; with hashtext(current_schema()) as the second key
TRY_OWN = "SELECT pg_try_advisory_lock(%s, hashtext(current_schema()))"


async def value(db: Connection, sql: str, params: Sequence[Any]) -> Any:
    """The first column of the one row a statement returns."""
    cursor = await db.execute(sql, params)
    row = await cursor.fetchone()
    if row is None:
        raise LookupError(f"no row from {sql[:60]!r}")
    return row[0]


async def own(db: Connection, where: str) -> None:
    """Take the database's lock on `db`, or `DatabaseInUse`."""
    locked = await value(db, TRY_OWN, (OWNER_LOCK,))
    if not locked:
        raise DatabaseInUse(
            f"another runner has {where} open; stop it, or give this one another --store"
        )


async def retake(dsn: str) -> Connection | None:
    """The database's lock on a new connection, once the server takes one;
    None when another runner holds it."""
    pause = 0.1
    while True:
        try:
            db = await psycopg.AsyncConnection.connect(dsn, autocommit=True, connect_timeout=5)
            try:
                if await value(db, TRY_OWN, (OWNER_LOCK,)):
                    return db
            except BaseException:
                await db.close()
                raise
            await db.close()
            return None
        except psycopg.Error:
            await asyncio.sleep(pause)  # the server is not back yet
            pause = min(pause * 2, 1.0)
