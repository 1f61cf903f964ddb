"""What the database holds, read for metrics from any thread: a connection of
its own per call (for SQLite a read-only one, which WAL lets run beside the
store's writes; for PostgreSQL a short-lived one to the same server)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from .opening import is_postgres

RUN_COUNTS = "SELECT status, count(*) FROM runs GROUP BY status"


def run_counts(location: str | Path) -> dict[int, int]:
    """Runs by status (the `RunStatus` number)."""
    if is_postgres(location):
        rows = _postgres(str(location), RUN_COUNTS)
    else:
        uri = Path(location).resolve().as_uri() + "?mode=ro"
        connection = sqlite3.connect(uri, uri=True, timeout=1.0, check_same_thread=False)
        try:
            rows = connection.execute(RUN_COUNTS).fetchall()
        finally:
            connection.close()
    return {int(status): int(count) for status, count in rows}


def database_bytes(location: str | Path) -> int:
    """The database file and its write-ahead log, in bytes; for PostgreSQL
    the database's size on the server."""
    if is_postgres(location):
        ((size,),) = _postgres(str(location), "SELECT pg_database_size(current_database())")
        return int(size)
    total = 0
    for suffix in ("", "-wal"):
        with contextlib.suppress(FileNotFoundError):
            total += Path(f"{location}{suffix}").stat().st_size
    return total


def _postgres(dsn: str, query: str) -> list[tuple[int, ...]]:
    import psycopg  # only a runner on PostgreSQL has it

    with psycopg.connect(dsn, connect_timeout=5) as connection:
        return list(connection.execute(query).fetchall())
