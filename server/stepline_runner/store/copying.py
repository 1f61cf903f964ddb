"""Copying a SQLite database into PostgreSQL, then checking the copy run by run.

`copy_to_postgres` copies every table row for row (sequence numbers, paging
order and state references kept), in one PostgreSQL transaction: a failed
copy leaves the target as it was. The tables and columns are the PostgreSQL
schema's, so a column both schemas gain is copied without a change here.

`compare` then reads both databases through the store interface, as the
runner would, and compares each run: its record, its events, and each
checkpoint's content and executor states (each state checked against its
hash on the way). Whatever differs is named, run by run.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg import sql

from .base import Store
from .opening import StoreOpenError
from .postgres import PostgresStore
from .postgres_writes import Connection

BATCH = 500
PAGE = 100


class TargetNotEmpty(StoreOpenError):
    """The PostgreSQL database already holds runs or workflows."""


@dataclass
class CopyReport:
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows copied


@dataclass
class Comparison:
    runs: int = 0
    events: int = 0
    checkpoints: int = 0
    workflows: int = 0
    versions: int = 0
    differences: list[str] = field(default_factory=list)


async def copy_to_postgres(source: Path, target: PostgresStore, replace: bool) -> CopyReport:
    """Copy the SQLite file `source` (open in a SqliteStore, so at the current
    schema and used by no runner) into the empty database of `target`; with
    `replace` the target's tables are emptied first, in the same transaction."""
    report = CopyReport()
    async with target.transaction(pipeline=False) as db:  # COPY
        tables = await _tables(db)
        if replace:
            await db.execute(
                sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(map(sql.Identifier, tables)))
            )
        else:
            await _refuse_non_empty(db)
        with closing(sqlite3.connect(source)) as lite:
            lite.execute("BEGIN")  # one snapshot of the source
            present = _sqlite_columns(lite)
            for table, columns in tables.items():
                if table not in present:
                    continue  # a table only PostgreSQL has (nothing to copy)
                report.rows[table] = await _copy_table(
                    db, table, columns, _select(table, columns, present[table]), lite
                )
        for table, columns in tables.items():
            if "seq" in columns:
                await db.execute(
                    sql.SQL(
                        "SELECT setval(pg_get_serial_sequence({t}, 'seq'),"
                        " coalesce(max(seq), 0) + 1, false) FROM {i}"
                    ).format(t=sql.Literal(table), i=sql.Identifier(table))
                )
    return report


async def _tables(db: Connection) -> dict[str, list[str]]:
    """The store's tables in the target schema, each with its columns in order."""
    cursor = await db.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name <> 'stepline_schema'"
        " ORDER BY table_name, ordinal_position"
    )
    tables: dict[str, list[str]] = {}
    for table, column in await cursor.fetchall():
        tables.setdefault(str(table), []).append(str(column))
    return tables


async def _refuse_non_empty(db: Connection) -> None:
    cursor = await db.execute(
        "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM workflows)"
    )
    row = await cursor.fetchone()
    assert row is not None
    if row[0] or row[1]:
        raise TargetNotEmpty(
            f"the target database already holds {row[0]} runs and {row[1]} workflows: copy "
            "into an empty database, or pass --replace to delete what it holds first"
        )


def _sqlite_columns(lite: sqlite3.Connection) -> dict[str, set[str]]:
    names = [r[0] for r in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {
        name: {str(c[1]) for c in lite.execute(f'PRAGMA table_info("{name}")')}
        for name in names
        if not name.startswith("sqlite_")
    }


# PostgreSQL keeps every state as a blob; SQLite keeps small ones with their
# references (states.py): those become blobs of the copy, once per hash.
BLOBS = (
    "(SELECT hash, data FROM blobs UNION ALL SELECT blob_hash, min(data) FROM checkpoint_states"
    " WHERE data IS NOT NULL AND blob_hash NOT IN (SELECT hash FROM blobs) GROUP BY blob_hash)"
)


def _select(table: str, columns: list[str], present: set[str]) -> str:
    """The SQLite query yielding `columns` of `table`, in order. A `seq` the
    SQLite table lacks is its rowid (workflows: registration order); the
    blobs are those of the table and the states kept inline (BLOBS)."""
    chosen = []
    for column in columns:
        if column in present:
            chosen.append(f'"{column}"')
        elif column == "seq":
            chosen.append("rowid")
        else:
            raise ValueError(
                f"the SQLite database's table {table} has no column {column}: "
                "it is not at this Stepline's schema"
            )
    order = f" ORDER BY {chosen[columns.index('seq')]}" if "seq" in columns else ""
    source = BLOBS if table == "blobs" else f'"{table}"'
    return f"SELECT {', '.join(chosen)} FROM {source}{order}"


async def _copy_table(
    db: Connection, table: str, columns: list[str], query: str, lite: sqlite3.Connection
) -> int:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    count = 0
    async with db.cursor() as cursor, cursor.copy(statement) as copy:
        for batch in _batches(lite.execute(query)):
            for row in batch:
                await copy.write_row(row)
            count += len(batch)
    return count


def _batches(cursor: sqlite3.Cursor) -> Iterator[list[Any]]:
    while batch := cursor.fetchmany(BATCH):
        yield batch


async def compare(source: Store, target: Store) -> Comparison:
    """Read every run (and workflow) of `source` through the store interface
    and compare it with `target`'s; a missing run or any difference is named."""
    result = Comparison()
    async for run in _runs(source):
        result.runs += 1
        copied = await target.get_run(run.run_id)
        if copied is None:
            result.differences.append(f"run {run.run_id}: missing from the target")
            continue
        if copied != run:
            result.differences.append(f"run {run.run_id}: its record differs")
        events = await _digest_events(source, run.run_id)
        result.events += events[0]
        if await _digest_events(target, run.run_id) != events:
            result.differences.append(f"run {run.run_id}: its events differ")
        checkpoints = await _digest_checkpoints(source, run.run_id)
        result.checkpoints += len(checkpoints)
        if await _digest_checkpoints(target, run.run_id) != checkpoints:
            result.differences.append(f"run {run.run_id}: its checkpoints differ")
    token = ""
    while True:
        page, token = await source.list_workflows(PAGE, token)
        for summary in page:
            result.workflows += 1
            for version in range(1, summary.version + 1):
                result.versions += 1
                found = [
                    await s.get_workflow(summary.workflow_id, version) for s in (source, target)
                ]
                if found[0] != found[1]:
                    result.differences.append(
                        f"workflow {summary.workflow_id}: version {version} differs"
                    )
        if not token:
            break
    return result


async def _runs(store: Store) -> AsyncIterator[Any]:
    token = ""
    while True:
        page, token = await store.list_runs("", PAGE, token)
        for run in page:
            yield run
        if not token:
            return


async def _digest_events(store: Store, run_id: str) -> tuple[int, str]:
    """How many events the run has, and a hash of them all in order."""
    digest, count, after = hashlib.sha256(), 0, 0
    while batch := await store.read_events(run_id, after, 1000):
        for event in batch:
            digest.update(event.SerializeToString(deterministic=True))
        count, after = count + len(batch), batch[-1].sequence
    return count, digest.hexdigest()


async def _digest_checkpoints(store: Store, run_id: str) -> list[tuple[str, str]]:
    """Each checkpoint's id and a hash of all it holds, executor states included."""
    found, token = [], ""
    while True:
        page, token = await store.list_checkpoints(run_id, PAGE, token)
        for listed in page:
            full = await store.get_checkpoint(listed.checkpoint_id, include_content=True)
            assert full is not None
            data = full.SerializeToString(deterministic=True)
            found.append((listed.checkpoint_id, hashlib.sha256(data).hexdigest()))
        if not token:
            return found
