"""Store fixtures over both kinds of store: `store_location` is a SQLite file
in the test's directory, then a fresh database on the session's PostgreSQL
server (tests/support/postgres.py); `store` is the store opened there.

A test that takes either runs twice, [sqlite] and [postgresql]; the
PostgreSQL server starts only when the first such test needs it."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from stepline.testing import InProcessRunner
from stepline_runner.store import Store, states
from stepline_runner.store.opening import open_store

from .postgres import TemporaryPostgres

KINDS = ("sqlite", "postgresql")


def location(request: pytest.FixtureRequest, tmp_path: Path, kind: str) -> str | Path:
    """Where a store of `kind` lives for this test (an empty database)."""
    if kind == "sqlite":
        return tmp_path / "stepline.db"
    server: TemporaryPostgres = request.getfixturevalue("postgres_server")
    return server.new_database()


@pytest.fixture(params=KINDS)
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | Path]:
    where = location(request, tmp_path, request.param)
    yield where
    if isinstance(where, str):  # a database is megabytes of the session's disk
        server: TemporaryPostgres = request.getfixturevalue("postgres_server")
        server.drop_database(where)


@pytest.fixture
async def store(store_location: str | Path) -> AsyncIterator[Store]:
    opened = await open_store(store_location)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture(name="harness")
async def harness_on_both_stores(store_location: str | Path) -> AsyncIterator[InProcessRunner]:
    """The unit tests' `harness` (tests/unit/conftest.py) on either store: a
    module that imports this runs its engine tests on both."""
    async with await InProcessRunner.open(store_location) as harness:
        yield harness


def rows(location: str | Path, query: str) -> list[tuple[Any, ...]]:
    """What a query (in SQL both stores speak) returns from the store at `location`."""
    if isinstance(location, Path):
        with contextlib.closing(sqlite3.connect(location)) as conn:
            return list(conn.execute(query))
    with psycopg.connect(location) as pg:
        return list(pg.execute(query).fetchall())


def execute(location: str | Path, statement: str) -> None:
    """Run a statement on the store at `location`, behind the store's back."""
    if isinstance(location, Path):
        with contextlib.closing(sqlite3.connect(location)) as conn, conn:
            conn.execute(statement)
    else:
        with psycopg.connect(location) as pg:
            pg.execute(statement)


def state_copies(location: str | Path) -> int:
    """How many copies of executors' states the store holds: its blobs, and on
    SQLite the small states kept in their references (store/states.py)."""
    if isinstance(location, Path):
        inline = "SELECT count(*) FROM checkpoint_states WHERE data IS NOT NULL"
        return int(rows(location, f"SELECT (SELECT count(*) FROM blobs) + ({inline})")[0][0])
    return int(rows(location, "SELECT count(*) FROM blobs")[0][0])


def corrupt_states(location: str | Path, text: str) -> None:
    """Overwrite the bytes of every stored state with `text`, behind the store's back."""
    if isinstance(location, Path):
        execute(location, f"UPDATE blobs SET data = CAST('{text}' AS BLOB)")
        execute(
            location,
            f"UPDATE checkpoint_states SET data = CAST('{text}' AS BLOB) WHERE data IS NOT NULL",
        )
    else:
        execute(location, f"UPDATE blobs SET data = CAST('{text}' AS BYTEA)")


@pytest.fixture
def every_state_a_blob(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite stores even small states as blobs, as it does larger ones (and
    PostgreSQL every state): for tests of blobs shared across runs."""
    monkeypatch.setattr(states, "INLINE_BYTES", -1)
