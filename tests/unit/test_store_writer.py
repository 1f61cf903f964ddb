"""The store's writer thread: a transaction per call, in order; calls ready at
the same moment share one transaction (group commit), a failing one rolled
back alone, and nobody hears of a result before its COMMIT."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from stepline_runner.store.writer import GROUP_MAX, Writer


@pytest.fixture
async def writer(tmp_path: Path) -> AsyncIterator[Writer]:
    writer = Writer.connect(tmp_path / "w.db")
    await writer.call(
        lambda db: db.execute("CREATE TABLE t (run TEXT, n INTEGER, UNIQUE (run, n))")
    )
    yield writer
    await writer.close()


def rows(path: Path) -> list[tuple[str, int]]:
    """What another connection sees committed."""
    with sqlite3.connect(path) as db:
        return [tuple(r) for r in db.execute("SELECT run, n FROM t ORDER BY rowid")]


async def hold_the_thread(writer: Writer, hold: threading.Event) -> asyncio.Future[bool]:
    """A transaction that keeps the writer busy until `hold` is set, running."""
    running = threading.Event()

    def wait(db: sqlite3.Connection) -> bool:
        running.set()
        return hold.wait(5)

    first = asyncio.ensure_future(writer.transaction(wait))
    await asyncio.to_thread(running.wait, 5)
    return first


def insert(run: str, n: int) -> Callable[[sqlite3.Connection], int]:
    def work(db: sqlite3.Connection) -> int:
        db.execute("INSERT INTO t VALUES (?, ?)", (run, n))
        return n

    return work


async def test_calls_ready_together_share_a_transaction_each_in_its_order(
    writer: Writer, tmp_path: Path
) -> None:
    hold = threading.Event()
    # The first call holds the thread, so the others queue up behind it.
    first = await hold_the_thread(writer, hold)
    gathered = asyncio.gather(*(writer.transaction(insert(f"r{i % 5}", i)) for i in range(100)))
    await asyncio.sleep(0)  # every call's task runs up to its wait: all are queued
    hold.set()
    assert await first is True
    assert await gathered == list(range(100))

    assert rows(tmp_path / "w.db") == [(f"r{i % 5}", i) for i in range(100)]
    # 1 + 100 calls, in groups of at most GROUP_MAX.
    assert writer.groups == 1 + -(-100 // GROUP_MAX)
    assert writer.grouped == -(-100 // GROUP_MAX)


async def test_a_failing_call_in_a_group_is_rolled_back_alone(
    writer: Writer, tmp_path: Path
) -> None:
    hold = threading.Event()

    def twice(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO t VALUES ('bad', 1)")
        db.execute("INSERT INTO t VALUES ('bad', 1)")  # violates UNIQUE: the call fails

    first = await hold_the_thread(writer, hold)
    calls = [
        asyncio.ensure_future(writer.transaction(insert("a", 1))),
        asyncio.ensure_future(writer.transaction(twice)),
        asyncio.ensure_future(writer.transaction(insert("b", 2))),
    ]
    await asyncio.sleep(0)  # every call's task runs up to its wait: all are queued
    hold.set()
    await first
    results = await asyncio.gather(*calls, return_exceptions=True)

    assert results[0] == 1 and results[2] == 2
    assert isinstance(results[1], sqlite3.IntegrityError)
    assert rows(tmp_path / "w.db") == [("a", 1), ("b", 2)]  # nothing of 'bad'
    assert writer.grouped == 1


async def test_a_result_is_handed_over_only_after_its_commit(
    writer: Writer, tmp_path: Path
) -> None:
    seen: list[list[tuple[str, int]]] = []
    for i in range(3):
        await writer.transaction(insert("r", i))
        seen.append(rows(tmp_path / "w.db"))

    assert seen == [[("r", 0)], [("r", 0), ("r", 1)], [("r", 0), ("r", 1), ("r", 2)]]
