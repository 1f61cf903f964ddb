"""What the database holds, read for metrics from any thread: a read-only
connection of its own per call, which WAL lets run beside the store's writes."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path


def run_counts(path: str | Path) -> dict[int, int]:
    """Runs by status (the `RunStatus` number)."""
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    connection = sqlite3.connect(uri, uri=True, timeout=1.0, check_same_thread=False)
    try:
        rows = connection.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall()
    finally:
        connection.close()
    return {int(status): int(count) for status, count in rows}


def database_bytes(path: str | Path) -> int:
    """The database file and its write-ahead log, in bytes."""
    total = 0
    for suffix in ("", "-wal"):
        with contextlib.suppress(FileNotFoundError):
            total += Path(f"{path}{suffix}").stat().st_size
    return total
