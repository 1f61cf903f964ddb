"""What a PostgreSQL store holds, table by table: `read_postgres_usage(url)`,
the `StoreUsage` that usage.py reads from a SQLite file, with the same fields.

One read-only REPEATABLE READ transaction on a connection of its own, so
every figure is of one snapshot while runners go on writing. Sizes are the
server's: a table's bytes are `pg_table_size` (heap, TOAST, free space and
visibility maps), its indexes' `pg_indexes_size`, record bytes the sum of
`pg_column_size` of its rows (what the rows take, without dead versions or
page slack). `db_bytes` is the store's tables with their indexes (not the
server's catalogs or other schemas); PostgreSQL has no freelist (dead space
is reused through its free space map until VACUUM FULL), so
`freelist_bytes` is 0.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from .postgres_failures import describe, reason
from .usage import StoreUsage, UsageError


def read_postgres_usage(url: str) -> StoreUsage:
    try:
        with psycopg.connect(url, connect_timeout=10) as db:
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return _read(db)
    except psycopg.Error as exc:
        # psycopg may quote the URL, or the part it cannot decode: a password.
        raise UsageError(f"cannot read {describe(url)}: {reason(exc, url)}") from None


def _read(db: psycopg.Connection[tuple[object, ...]]) -> StoreUsage:
    tables = [
        str(r[0])
        for r in db.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
        ).fetchall()
    ]
    if "runs" not in tables or "blobs" not in tables:
        raise UsageError("the database holds no Stepline store (no runs and blobs tables)")
    table_bytes: dict[str, int] = {}
    index_bytes: dict[str, int] = {}
    record: dict[str, int] = {}
    rows: dict[str, int] = {}
    for table in tables:
        name = sql.Identifier(table)
        quoted = name.as_string(db)
        size = db.execute(
            "SELECT pg_table_size(%s::regclass), pg_indexes_size(%s::regclass)", (quoted, quoted)
        ).fetchone()
        counted = db.execute(
            sql.SQL("SELECT count(*), coalesce(sum(pg_column_size(t.*)), 0) FROM {} t").format(name)
        ).fetchone()
        assert size is not None and counted is not None
        table_bytes[table], index_bytes[table] = int(str(size[0])), int(str(size[1]))
        rows[table], record[table] = int(str(counted[0])), int(str(counted[1]))
    superstep = _one(db, "SELECT coalesce(max(superstep), 0) FROM checkpoints")
    state_bytes = _one(db, "SELECT coalesce(sum(octet_length(data)), 0) FROM blobs")
    page_size = _one(db, "SELECT current_setting('block_size')::int")
    return StoreUsage(
        last_superstep=superstep,
        db_bytes=sum(table_bytes.values()) + sum(index_bytes.values()),
        freelist_bytes=0,
        page_size=page_size,
        table_bytes=table_bytes,
        index_bytes=index_bytes,
        record_bytes=record,
        rows=rows,
        state_bytes=state_bytes,
    )


def _one(db: psycopg.Connection[tuple[object, ...]], query: str) -> int:
    row = db.execute(query).fetchone()
    assert row is not None
    return int(str(row[0]))
