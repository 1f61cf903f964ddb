"""`Writer`: the SQLite store's one write connection, on a thread of its own.

A write transaction is a plain function of a `sqlite3.Connection`, run whole
on the writer's thread: one hop from the event loop and one back, however
many statements it runs (aiosqlite made each statement a hop).

Group commit. When the thread is free it takes the transaction at the head of
the queue and, with it, those queued behind it at that moment (never waiting
for more to arrive), at most `GROUP_MAX` of them and `GROUP_BYTES` of data,
and runs them in one SQLite transaction, each inside a savepoint of its own:
one that fails is rolled back alone, and the others commit. Each caller
hears of its result only after that COMMIT, so "stored before sent" holds.
Callers are answered in queue order, and a run never has two commits queued
(its driver awaits each), so each run's own order is kept. The delay a
transaction suffers from sharing is bounded: at most the statements of the
`GROUP_MAX - 1` transactions after it in its group (a superstep's commit
runs its statements in tens of microseconds), and it saves the COMMIT (and,
with synchronous=FULL, the fsync) that each of them would have cost.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")

GROUP_MAX = 32
GROUP_BYTES = 4 * 1024 * 1024


@dataclass
class _Job(Generic[T]):
    work: Callable[[sqlite3.Connection], T]
    future: asyncio.Future[T]
    transaction: bool
    size: int
    loop: asyncio.AbstractEventLoop = field(repr=False)


_CLOSE = object()


class Writer:
    """Runs write transactions on one connection, on one thread, in order."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="stepline-store-writer")
        self._thread.daemon = True
        self._thread.start()
        self.groups = 0  # transactions run, for the tests and benchmarks
        self.grouped = 0  # of which shared by several callers

    @classmethod
    def connect(cls, path: str | Path) -> Writer:
        # Autocommit mode: the writer says BEGIN and COMMIT itself.
        db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        return cls(db)

    async def transaction(self, work: Callable[[sqlite3.Connection], T], size: int = 0) -> T:
        """Run `work(db)` in a write transaction (shared with others ready at
        the same moment); its result once committed. `size`: the bytes it
        writes, roughly, so a group stays within `GROUP_BYTES`."""
        return await self._submit(work, True, size)

    async def call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work(db)` on the writer's thread outside any transaction (a
        PRAGMA, a script that says BEGIN and COMMIT itself)."""
        return await self._submit(work, False, 0)

    async def close(self) -> None:
        self._jobs.put(_CLOSE)
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)

    async def _submit(
        self, work: Callable[[sqlite3.Connection], T], transaction: bool, size: int
    ) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put(_Job(work, future, transaction, size, loop))
        return await future

    # -- the writer's thread

    def _serve(self) -> None:
        waiting: Any = None
        while True:
            job = waiting if waiting is not None else self._jobs.get()
            waiting = None
            if job is _CLOSE:
                break
            if not job.transaction:
                _settle([job], [_outcome(job.work, self._db)])
                continue
            group = [job]
            size = job.size
            while len(group) < GROUP_MAX and size < GROUP_BYTES:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is _CLOSE or not more.transaction:
                    waiting = more
                    break
                group.append(more)
                size += more.size
            _settle(group, self._run(group))
        self._db.close()

    def _run(self, group: list[_Job[Any]]) -> list[tuple[bool, Any]]:
        """Run the group in one transaction: (succeeded, result or exception) each."""
        db = self._db
        self.groups += 1
        self.grouped += len(group) > 1
        results: list[tuple[bool, Any]] = []
        try:
            db.execute("BEGIN IMMEDIATE")
            if len(group) == 1:
                results.append((True, group[0].work(db)))
            else:
                for job in group:
                    results.append(self._in_savepoint(job))
            db.execute("COMMIT")
        except Exception as exc:  # the whole transaction is gone, or never began
            if db.in_transaction:
                db.execute("ROLLBACK")
            return [(False, exc)] * len(group)
        return results

    def _in_savepoint(self, job: _Job[Any]) -> tuple[bool, Any]:
        db = self._db
        db.execute("SAVEPOINT job")
        try:
            value = job.work(db)
        except Exception as exc:
            if not db.in_transaction:
                raise  # SQLite rolled the whole transaction back (a full disk, say)
            db.execute("ROLLBACK TO job")
            db.execute("RELEASE job")
            return False, exc
        db.execute("RELEASE job")
        return True, value


def _outcome(work: Callable[[sqlite3.Connection], Any], db: sqlite3.Connection) -> tuple[bool, Any]:
    try:
        return True, work(db)
    except Exception as exc:
        return False, exc


def _settle(group: list[_Job[Any]], results: list[tuple[bool, Any]]) -> None:
    """Hand the results to the event loop: one wake-up for the whole group."""
    group[0].loop.call_soon_threadsafe(_answer, group, results)


def _answer(group: list[_Job[Any]], results: list[tuple[bool, Any]]) -> None:
    for job, (ok, value) in zip(group, results, strict=True):
        if job.future.done():  # its caller was cancelled; the work stands
            continue
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)
