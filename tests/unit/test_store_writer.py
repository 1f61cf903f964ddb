"""The store's writer thread: a transaction per call, in order; calls ready at
the same moment share one transaction (group commit), a failing one rolled
back alone, and nobody hears of a result before its COMMIT. Small commits
asked of an idle writer are made inline, on the caller's thread, except
where commits wait for the disk; WAL checkpoints run on a connection and a
thread of their own, and no commit waits for one."""

from __future__ import annotations

import asyncio
import math
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from stepline.v1 import runner_pb2, workflow_pb2
from stepline_runner.store import checkpointer as checkpointing
from stepline_runner.store import writer as writer_module
from stepline_runner.store.checkpointer import checkpoint
from stepline_runner.store.sqlite import SqliteStore
from stepline_runner.store.writer import CHECKPOINT_COMMITS, GROUP_MAX, INLINE_BYTES, Writer


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


# -- inline commits (an idle writer, a small transaction)


@pytest.fixture
async def inline_writer(tmp_path: Path) -> AsyncIterator[Writer]:
    writer = Writer.connect(tmp_path / "w.db", inline_bytes=INLINE_BYTES)
    await writer.call(lambda db: db.execute("PRAGMA journal_mode=WAL").fetchall())
    await writer.call(
        lambda db: db.execute("CREATE TABLE t (run TEXT, n INTEGER, UNIQUE (run, n))")
    )
    yield writer
    await writer.close()


def on_thread(run: str, n: int, threads: list[int]) -> Callable[[sqlite3.Connection], int]:
    def work(db: sqlite3.Connection) -> int:
        threads.append(threading.get_ident())
        return insert(run, n)(db)

    return work


async def test_an_idle_writer_commits_a_small_transaction_on_the_callers_thread(
    inline_writer: Writer, tmp_path: Path
) -> None:
    threads: list[int] = []
    seen = []
    for i in range(3):
        assert await inline_writer.transaction(on_thread("r", i, threads), size=100) == i
        seen.append(rows(tmp_path / "w.db"))  # committed by the time it returned

    assert threads == [threading.get_ident()] * 3
    assert seen == [[("r", 0)], [("r", 0), ("r", 1)], [("r", 0), ("r", 1), ("r", 2)]]
    assert inline_writer.inline == 3


async def test_a_large_transaction_or_a_busy_writer_goes_to_the_thread_and_groups(
    inline_writer: Writer, tmp_path: Path
) -> None:
    threads: list[int] = []
    await inline_writer.transaction(on_thread("big", 0, threads), size=INLINE_BYTES + 1)
    assert threads[0] != threading.get_ident()

    hold = threading.Event()
    running = threading.Event()

    def wait(db: sqlite3.Connection) -> bool:
        running.set()
        return hold.wait(5)

    busy = asyncio.ensure_future(inline_writer.call(wait))
    await asyncio.to_thread(running.wait, 5)
    queued = asyncio.gather(
        *(inline_writer.transaction(on_thread("q", i, threads), size=10) for i in range(5))
    )
    await asyncio.sleep(0)  # all five asked while the writer is busy: queued
    hold.set()
    assert await busy is True
    assert await queued == list(range(5))

    assert threading.get_ident() not in threads
    assert inline_writer.inline == 0
    assert inline_writer.grouped == 1  # the five shared one transaction
    assert rows(tmp_path / "w.db") == [("big", 0)] + [("q", i) for i in range(5)]


async def test_a_failing_inline_transaction_raises_and_leaves_nothing(
    inline_writer: Writer, tmp_path: Path
) -> None:
    def twice(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO t VALUES ('bad', 1)")
        db.execute("INSERT INTO t VALUES ('bad', 1)")

    with pytest.raises(sqlite3.IntegrityError):
        await inline_writer.transaction(twice, size=10)
    assert await inline_writer.transaction(insert("ok", 1), size=10) == 1

    assert inline_writer.inline == 2
    assert rows(tmp_path / "w.db") == [("ok", 1)]


async def test_inline_commits_leave_wal_checkpoints_to_the_checkpointer(
    inline_writer: Writer, tmp_path: Path
) -> None:
    database = tmp_path / "w.db"
    body = "x" * 2000

    def row(n: int) -> Callable[[sqlite3.Connection], None]:
        def work(db: sqlite3.Connection) -> None:
            db.execute("INSERT INTO t VALUES (?, ?)", (body, n))

        return work

    await inline_writer.call(lambda db: db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())
    size = database.stat().st_size
    for n in range(CHECKPOINT_COMMITS - 1):
        await inline_writer.transaction(row(n), size=10)
    # SQLite's automatic checkpoint (at 1000 WAL pages) is off: nothing
    # reached the database file yet, however many pages the WAL holds.
    assert database.stat().st_size == size
    await inline_writer.transaction(row(CHECKPOINT_COMMITS), size=10)
    checkpointer = inline_writer.checkpointer
    assert checkpointer is not None
    assert await asyncio.to_thread(checkpointer.wait, 1, 5)

    assert database.stat().st_size > size + (CHECKPOINT_COMMITS - 1) * len(body)
    assert inline_writer.inline == CHECKPOINT_COMMITS


async def test_no_commit_waits_for_a_wal_checkpoint(
    inline_writer: Writer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint waits for the disk; it used to run on the write
    connection, and the commit asked for meanwhile waited for all of it."""
    checkpointer = inline_writer.checkpointer
    assert checkpointer is not None
    running, hold = threading.Event(), threading.Event()
    checkpoint = checkpointer._checkpoint

    def slow_checkpoint() -> None:
        running.set()
        hold.wait(5)
        checkpoint()

    monkeypatch.setattr(checkpointer, "_checkpoint", slow_checkpoint)
    for n in range(CHECKPOINT_COMMITS):
        await inline_writer.transaction(insert("before", n), size=10)
    assert await asyncio.to_thread(running.wait, 5)  # the checkpoint is under way

    threads: list[int] = []
    for n in range(3):  # made inline, and committed, while it stays under way
        assert await inline_writer.transaction(on_thread("during", n, threads), size=10) == n
    assert threads == [threading.get_ident()] * 3
    assert rows(tmp_path / "w.db")[-3:] == [("during", n) for n in range(3)]
    assert checkpointer.checkpoints == 0
    hold.set()
    assert await asyncio.to_thread(checkpointer.wait, 1, 5)


async def test_the_wal_starts_over_once_past_its_bound(
    inline_writer: Writer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint beside the commits leaves what they added meanwhile, and
    SQLite starts the WAL over only once it was copied whole: past the bound
    the writer's thread copies the rest between two commits. Before, the WAL
    only grew."""
    checkpointer = inline_writer.checkpointer
    assert checkpointer is not None
    checkpointer._restart_frames = 1  # the bound: any WAL at all
    copied, hold = threading.Event(), threading.Event()

    def checkpoint_then_hold(db: sqlite3.Connection) -> int:
        frames = checkpoint(db)
        copied.set()
        hold.wait(5)  # commits arrive "while it runs"
        return frames

    monkeypatch.setattr(checkpointing, "checkpoint", checkpoint_then_hold)
    for n in range(CHECKPOINT_COMMITS):
        await inline_writer.transaction(insert("before", n), size=10)
    assert await asyncio.to_thread(copied.wait, 5)
    for n in range(3):
        await inline_writer.transaction(insert("during", n), size=10)
    hold.set()
    assert await asyncio.to_thread(checkpointer.wait, 1, 5)
    salts = wal_salts(tmp_path / "w.db")
    threads: list[int] = []
    await inline_writer.transaction(on_thread("after", 0, threads), size=10)

    assert threads[0] != threading.get_ident()  # on the writer's thread, after the rest
    assert wal_salts(tmp_path / "w.db") != salts  # the WAL started over with it
    assert inline_writer.inline == CHECKPOINT_COMMITS + 3
    assert rows(tmp_path / "w.db")[-1] == ("after", 0)


def wal_salts(database: Path) -> bytes:
    """The WAL header's salts: SQLite draws new ones when it starts the WAL over."""
    return (database.parent / f"{database.name}-wal").read_bytes()[16:24]


async def test_a_stores_checkpoints_copy_its_wal_into_the_file(tmp_path: Path) -> None:
    """The checkpointer's connection is opened before the file is put in WAL
    mode: its checkpoints did nothing until it had read the file."""
    store = await SqliteStore.open(tmp_path / "s.db")
    try:
        checkpointer = store._writer.checkpointer
        assert checkpointer is not None
        size = (tmp_path / "s.db").stat().st_size
        for n in range(CHECKPOINT_COMMITS):
            await store.put_workflow(workflow_pb2.WorkflowDefinition(workflow_id=f"w{n}"), "g")
        assert await asyncio.to_thread(checkpointer.wait, 1, 5)

        assert (tmp_path / "s.db").stat().st_size > size + CHECKPOINT_COMMITS * 10
    finally:
        await store.close()


async def test_the_checkpointer_waits_for_the_disk_as_the_store_does(tmp_path: Path) -> None:
    """Its synchronous level decides whether a checkpoint syncs the files."""
    for synchronous, level in (("FULL", 2), ("NORMAL", 1)):
        store = await SqliteStore.open(tmp_path / f"{synchronous}.db", synchronous=synchronous)
        try:
            writer = store._writer
            assert writer.checkpointer is not None
            for db in (writer._db, writer.checkpointer._db):
                assert db.execute("PRAGMA synchronous").fetchone() == (level,)
            # No commit runs one either (SQLite's automatic checkpoints).
            assert writer._db.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
        finally:
            await store.close()


async def test_a_store_that_waits_for_the_disk_never_commits_inline(tmp_path: Path) -> None:
    for synchronous, inline in (("FULL", 0), ("NORMAL", INLINE_BYTES)):
        store = await SqliteStore.open(tmp_path / f"{synchronous}.db", synchronous=synchronous)
        try:
            assert store._writer._inline_bytes == inline
        finally:
            await store.close()


async def test_deletions_and_large_writes_of_the_store_are_never_inline(tmp_path: Path) -> None:
    """A run's deletion takes time in proportion to the run (its events), a
    schedule's write to its input: neither runs on the event loop."""
    store = await SqliteStore.open(tmp_path / "s.db")
    try:
        writer = store._writer
        assert writer._inline_bytes  # synchronous=NORMAL: small commits go inline
        await store.delete_schedule("none")
        assert writer.inline == 1  # a small write: inline
        await store.delete_run("r")
        await store.delete_checkpoint("r", "c")
        schedule = runner_pb2.Schedule()
        schedule.spec.schedule_id = "s"
        schedule.spec.input.data = b"x" * (INLINE_BYTES + 1)
        assert await store.insert_schedule(schedule)
        assert writer.inline == 1  # before the fix: 4
    finally:
        await store.close()


# -- inline commits asked for in one turn of the event loop


@pytest.fixture
def close_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every inline commit counts as asked for close to the last (as with
    many runs at once): it waits for the others of its loop turn."""
    monkeypatch.setattr(writer_module, "TURN_GAP", math.inf)


async def test_a_commit_long_after_the_last_is_made_before_the_caller_yields(
    inline_writer: Writer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(writer_module, "TURN_GAP", 0.0)  # each one long after the last
    ran: list[str] = []
    asyncio.get_running_loop().call_soon(ran.append, "a callback ready before")
    assert await inline_writer.transaction(insert("lone", 1), size=10) == 1

    assert ran == []  # no turn of the loop waited for: a lone run pays nothing
    assert rows(tmp_path / "w.db") == [("lone", 1)]


async def test_inline_commits_asked_for_in_one_loop_turn_share_one_transaction_in_order(
    inline_writer: Writer, tmp_path: Path, close_together: None
) -> None:
    threads: list[int] = []
    before = inline_writer.groups
    # Five runs' commits, each run's own two in its order, all asked at once.
    calls = [
        inline_writer.transaction(on_thread(f"r{i % 5}", i, threads), size=10) for i in range(10)
    ]
    assert await asyncio.gather(*calls) == list(range(10))

    assert threads == [threading.get_ident()] * 10  # on the event loop's thread
    assert inline_writer.groups - before == 1  # one BEGIN..COMMIT for the ten
    assert inline_writer.grouped == 1 and inline_writer.inline == 10
    assert rows(tmp_path / "w.db") == [(f"r{i % 5}", i) for i in range(10)]


async def test_a_failing_commit_in_a_loop_turn_fails_alone(
    inline_writer: Writer, tmp_path: Path, close_together: None
) -> None:
    def twice(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO t VALUES ('bad', 1)")
        db.execute("INSERT INTO t VALUES ('bad', 1)")  # violates UNIQUE

    results = await asyncio.gather(
        inline_writer.transaction(insert("a", 1), size=10),
        inline_writer.transaction(twice, size=10),
        inline_writer.transaction(insert("b", 2), size=10),
        return_exceptions=True,
    )

    assert results[0] == 1 and results[2] == 2
    assert isinstance(results[1], sqlite3.IntegrityError)
    assert inline_writer.grouped == 1
    assert rows(tmp_path / "w.db") == [("a", 1), ("b", 2)]  # nothing of 'bad'


async def test_nobody_in_a_loop_turn_hears_of_its_commit_before_the_groups_commit(
    inline_writer: Writer, tmp_path: Path, close_together: None
) -> None:
    seen: list[list[tuple[str, int]]] = []

    async def commit_then_look(n: int) -> None:
        await inline_writer.transaction(insert("r", n), size=10)
        seen.append(rows(tmp_path / "w.db"))

    await asyncio.gather(*(commit_then_look(n) for n in range(3)))

    # Each caller, as it heard of its commit, saw the whole group committed.
    assert seen == [[("r", 0), ("r", 1), ("r", 2)]] * 3


async def test_a_group_of_a_loop_turn_is_at_most_group_max(
    inline_writer: Writer, close_together: None
) -> None:
    before = inline_writer.groups
    calls = [inline_writer.transaction(insert("r", i), size=10) for i in range(GROUP_MAX + 1)]
    assert await asyncio.gather(*calls) == list(range(GROUP_MAX + 1))

    assert inline_writer.groups - before == 2  # GROUP_MAX, then the one more


async def test_a_thread_job_asked_for_after_a_loop_turns_commits_comes_after_them(
    inline_writer: Writer, tmp_path: Path, close_together: None
) -> None:
    threads: list[int] = []
    small = [inline_writer.transaction(insert("small", i), size=10) for i in range(3)]
    # Asked for after the three (large: for the writer's thread), in the same turn.
    big = inline_writer.transaction(on_thread("big", 0, threads), size=INLINE_BYTES + 1)
    await asyncio.gather(*small, big)

    assert threads and threads[0] != threading.get_ident()
    assert rows(tmp_path / "w.db") == [("small", 0), ("small", 1), ("small", 2), ("big", 0)]
