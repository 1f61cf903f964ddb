"""What a store holds, table by table, read from outside the runner
(benchmarks, operators, `stepline-runner usage`): `read_usage(location)`, a
SQLite file or a PostgreSQL database (postgres_usage.py, same fields).

On SQLite it opens its own connection and reads one consistent snapshot (a
read transaction, WAL lets the runner go on writing); it needs SQLite's
`dbstat` virtual table, which CPython's bundled SQLite has.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path


class UsageError(RuntimeError):
    """The store cannot be read, or holds no Stepline store; the message says which."""


@dataclass(frozen=True)
class StoreUsage:
    """One snapshot of a store's file. Byte counts are whole pages unless named
    `record`; tables are keyed by name, each with its indexes apart."""

    last_superstep: int  # the highest superstep any checkpoint is at (0: none)
    db_bytes: int  # page_count x page_size
    freelist_bytes: int
    page_size: int
    table_bytes: dict[str, int]  # the table's own b-tree
    index_bytes: dict[str, int]  # its indexes together
    record_bytes: dict[str, int]  # record bytes in the table's own b-tree (leaf + overflow)
    rows: dict[str, int]
    # Bytes of stored executor states, all checkpoints: a blob's once, a small
    # state's (kept with its reference, states.py) at each change.
    state_bytes: int


def read_usage(location: str | Path) -> StoreUsage:
    """The usage of the store at `location`: a SQLite file's path, or a
    postgresql:// URL. `UsageError` (PostgreSQL) or `sqlite3.Error` say why not."""
    if isinstance(location, str) and location.startswith(("postgresql://", "postgres://")):
        from .postgres_usage import read_postgres_usage  # psycopg: the postgresql extra

        return read_postgres_usage(location)
    con = sqlite3.connect(location, isolation_level=None)
    try:
        con.execute("BEGIN")  # one snapshot for everything below
        owner = dict(
            con.execute("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table','index')")
        )
        tables = sorted(
            name
            for name, table in owner.items()
            if name == table and not name.startswith("sqlite_")
        )
        table_bytes: dict[str, int] = {}
        index_bytes: dict[str, int] = {}
        record: dict[str, int] = {}
        for name, size, data in con.execute(
            "SELECT name, sum(pgsize), sum(CASE WHEN pagetype = 'internal' THEN 0 ELSE payload"
            " END) FROM dbstat GROUP BY name"
        ):
            table = owner.get(name, "(schema)")
            if name == table or table == "(schema)":
                table_bytes[table] = table_bytes.get(table, 0) + size
                record[table] = record.get(table, 0) + data
            else:
                index_bytes[table] = index_bytes.get(table, 0) + size
        rows = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
        (superstep,) = con.execute("SELECT max(superstep) FROM checkpoints").fetchone()
        (state_bytes,) = con.execute(STATE_BYTES + _inline_state_bytes(con)).fetchone()
        (page_size,) = con.execute("PRAGMA page_size").fetchone()
        (page_count,) = con.execute("PRAGMA page_count").fetchone()
        (freelist,) = con.execute("PRAGMA freelist_count").fetchone()
        con.execute("COMMIT")
    finally:
        con.close()
    return StoreUsage(
        last_superstep=int(superstep or 0),
        db_bytes=page_count * page_size,
        freelist_bytes=freelist * page_size,
        page_size=page_size,
        table_bytes=table_bytes,
        index_bytes=index_bytes,
        record_bytes=record,
        rows=rows,
        state_bytes=int(state_bytes),
    )


STATE_BYTES = "SELECT (SELECT coalesce(sum(length(data)), 0) FROM blobs)"


def _inline_state_bytes(con: sqlite3.Connection) -> str:
    """What STATE_BYTES adds for the states kept with their references: none
    in a file of a schema before 10 (read here before a runner migrated it)."""
    columns = {row[1] for row in con.execute("PRAGMA table_info(checkpoint_states)")}
    if "data" not in columns:
        return ""
    return " + (SELECT coalesce(sum(length(data)), 0) FROM checkpoint_states)"


CHECKPOINT_TABLES = ("blobs", "checkpoints", "checkpoint_states")
"""The tables that hold checkpoints (their metadata, states and state blobs)."""
