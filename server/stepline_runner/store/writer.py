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

Inline commits. A small transaction (at most `inline_bytes`) asked for while
the writer is idle (nothing queued, nothing running, nothing unanswered) runs
on the caller's thread: waking the writer's thread and being woken back
costs more than a superstep's statements. One asked for more than
`TURN_GAP` after the last is committed at once. While they come closer
(many runs at once), those asked for in one turn of the event loop share one
transaction, as a group above (savepoints, at most `GROUP_MAX`), made once
the callbacks ready when the first was asked have run (`loop.call_soon`):
many runs' commits ready together cost one BEGIN and one COMMIT, and the
pages they share are written once. The delay this adds to a commit is
bounded by that one turn of the loop plus the statements of the others in
its group; nothing waits for more to come. What a turn holds is the steps
of the runs ready then: with 500 runs at once a commit waited 0.6-0.8 ms
(median; at most 15-40 ms, in the burst of 500 starts), time those steps
would otherwise have waited for the commits (profile_many.py). A caller
hears of its result only after that COMMIT, as any other's; a job for the
writer's thread asked for meanwhile first commits the pending group here,
so the order of asking is the order of committing.
Commits that find the writer busy queue and group as above. The store turns
this on only where a commit does not wait for the disk (synchronous=NORMAL),
so the event loop never waits for an fsync.

WAL checkpoints. SQLite's automatic ones are off: the commit that crossed its
threshold ran one, and waited for the disk. The writer asks its
`Checkpointer` (a connection and a thread of their own) for one every
`CHECKPOINT_COMMITS` commits or `CHECKPOINT_BYTES`, and no commit waits for
it. When the WAL has grown past `checkpointer.RESTART_BYTES`, the next
transaction goes to the writer's thread, which first copies the frames
committed while the last checkpoint ran, so that the WAL is copied whole and
that transaction starts it over: it waits for this short checkpoint and for
the disk (three syncs, never on the event loop), once per 16 MiB of WAL.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from .checkpointer import Checkpointer, checkpoint

T = TypeVar("T")

GROUP_MAX = 32
GROUP_BYTES = 4 * 1024 * 1024
# What a transaction may write to be committed inline: its statements take
# well under a millisecond of the event loop.
INLINE_BYTES = 64 * 1024
# SQLite's default is a checkpoint per 1000 WAL pages; a superstep's commit
# writes about fifteen.
CHECKPOINT_COMMITS = 100
CHECKPOINT_BYTES = 4 * 1024 * 1024
# Inline commits asked for closer than this wait for their loop turn's others:
# a lone run's supersteps (an executor's round trip each) are further apart.
TURN_GAP = 0.000_25

log = logging.getLogger(__name__)


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

    def __init__(
        self,
        db: sqlite3.Connection,
        inline_bytes: int = 0,
        checkpointer: Checkpointer | None = None,
    ) -> None:
        """`inline_bytes`: commit transactions of at most so many bytes on the
        caller's thread when the writer is idle (0: never; see the module).
        `checkpointer`: who checkpoints the WAL (None: SQLite, in commits)."""
        self._db = db
        self._inline_bytes = inline_bytes
        self.checkpointer = checkpointer
        # The WAL is to start over: what the checkpointer left is to be copied.
        self._rest_due = False
        if checkpointer is not None:
            db.execute("PRAGMA wal_autocheckpoint=0")
            checkpointer.on_full = self._rest_left
        # Jobs submitted and not answered yet: while there are any, the
        # writer's thread may be using the connection. Changed on the event
        # loop's thread only (`_enqueue`, `_answer`).
        self._unanswered = 0
        self._closed = False
        # Commits and their bytes since the last WAL checkpoint was asked for.
        self._commits = 0
        self._bytes = 0
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="stepline-store-writer")
        self._thread.daemon = True
        self._thread.start()
        # Inline transactions asked for in this turn of the event loop, to be
        # committed together (`_commit_turn`).
        self._turn: list[_Job[Any]] = []
        self._turn_bytes = 0
        self._last_inline = 0.0  # when the last inline commit was asked for
        self.groups = 0  # transactions run, for the tests and benchmarks
        self.grouped = 0  # of which shared by several callers
        self.inline = 0  # of which run on the caller's thread

    @classmethod
    def connect(
        cls, path: str | Path, inline_bytes: int = 0, pragmas: Sequence[str] = ()
    ) -> Writer:
        """A writer of the database at `path` with a `Checkpointer`, both
        connections set up with `pragmas`."""
        # Autocommit mode: the writer says BEGIN and COMMIT itself.
        db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        try:
            for pragma in pragmas:
                db.execute(pragma).fetchall()
            checkpointer = Checkpointer.connect(path, pragmas)
        except BaseException:
            db.close()
            raise
        return cls(db, inline_bytes, checkpointer)

    async def transaction(self, work: Callable[[sqlite3.Connection], T], size: int = 0) -> T:
        """Run `work(db)` in a write transaction (shared with others ready at
        the same moment, or inline: see the module); its result once
        committed. `size`: the bytes it writes, roughly, so a group stays
        within `GROUP_BYTES`."""
        inline = self._inline_bytes and size <= self._inline_bytes
        if inline and not self._unanswered and not self._closed and not self._rest_due:
            now = time.monotonic()
            alone = now - self._last_inline > TURN_GAP and not self._turn
            self._last_inline = now
            if alone:
                return self._inline(work, size)
            return await self._in_turn(work, size)
        return await self._enqueue(work, True, size)

    async def call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work(db)` on the writer's thread outside any transaction (a
        PRAGMA, a script that says BEGIN and COMMIT itself)."""
        return await self._enqueue(work, False, 0)

    async def close(self) -> None:
        self._closed = True
        self._commit_turn()
        self._jobs.put(_CLOSE)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._thread.join)
        if self.checkpointer is not None:
            await loop.run_in_executor(None, self.checkpointer.close)

    def _enqueue(
        self, work: Callable[[sqlite3.Connection], T], transaction: bool, size: int
    ) -> asyncio.Future[T]:
        """Queue a job for the writer's thread; the future of its result."""
        self._commit_turn()  # what was asked for before goes first
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._unanswered += 1  # at once: no commit may go inline after this
        self._jobs.put(_Job(work, future, transaction, size, loop))
        return future

    def _inline(self, work: Callable[[sqlite3.Connection], T], size: int) -> T:
        """`work` committed here and now: nothing else uses the connection."""
        self.inline += 1
        ok, value = self._transact([work], size)[0]
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    def _in_turn(self, work: Callable[[sqlite3.Connection], T], size: int) -> asyncio.Future[T]:
        """`work` committed inline with the others asked for in this turn of
        the event loop: nothing else uses the connection meanwhile."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if self._turn and (len(self._turn) >= GROUP_MAX or self._turn_bytes + size > GROUP_BYTES):
            self._commit_turn()  # a full group: committed now, this one starts the next
        if not self._turn:
            loop.call_soon(self._commit_turn)
        self._turn.append(_Job(work, future, True, size, loop))
        self._turn_bytes += size
        return future

    def _commit_turn(self) -> None:
        """Commit this turn's inline transactions, here and now, in one."""
        group, size = self._turn, self._turn_bytes
        if not group:
            return  # committed already (a full group, a queued job, closing)
        self._turn, self._turn_bytes = [], 0
        self.inline += len(group)
        _hand_over(group, self._transact([job.work for job in group], size))

    # -- the writer's thread (and inline commits, while it is idle)

    def _serve(self) -> None:
        waiting: Any = None
        while True:
            job = waiting if waiting is not None else self._jobs.get()
            waiting = None
            if job is _CLOSE:
                break
            if not job.transaction:
                self._settle([job], [_outcome(job.work, self._db)])
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
            self._copy_the_rest()
            self._settle(group, self._transact([j.work for j in group], size))
        self._db.close()

    def _rest_left(self) -> None:
        self._rest_due = True  # a plain store: read on the other threads as it is

    def _copy_the_rest(self) -> None:
        """When the WAL is to start over, copy what was committed since the
        checkpointer's last checkpoint began, with no commit beside it: SQLite
        starts the WAL over at the next commit only once it was copied whole."""
        if self._rest_due:
            self._rest_due = False
            if not (done := _outcome(checkpoint, self._db))[0]:
                log.warning("a WAL checkpoint failed (the next one retries): %s", done[1])

    def _transact(
        self, group: list[Callable[[sqlite3.Connection], Any]], size: int
    ) -> list[tuple[bool, Any]]:
        """Run the group in one transaction: (succeeded, result or exception) each."""
        db = self._db
        self.groups += 1
        self.grouped += len(group) > 1
        results: list[tuple[bool, Any]] = []
        try:
            db.execute("BEGIN IMMEDIATE")
            if len(group) == 1:
                results.append((True, group[0](db)))
            else:
                for work in group:
                    results.append(self._in_savepoint(work))
            db.execute("COMMIT")
        except Exception as exc:  # the whole transaction is gone, or never began
            if db.in_transaction:
                db.execute("ROLLBACK")
            return [(False, exc)] * len(group)
        self._count(size)
        return results

    def _in_savepoint(self, work: Callable[[sqlite3.Connection], Any]) -> tuple[bool, Any]:
        db = self._db
        db.execute("SAVEPOINT job")
        try:
            value = work(db)
        except Exception as exc:
            if not db.in_transaction:
                raise  # SQLite rolled the whole transaction back (a full disk, say)
            db.execute("ROLLBACK TO job")
            db.execute("RELEASE job")
            return False, exc
        db.execute("RELEASE job")
        return True, value

    def _count(self, size: int) -> None:
        """A commit of `size` bytes: ask for a WAL checkpoint when one is due."""
        self._commits += 1
        self._bytes += size
        due = self._commits >= CHECKPOINT_COMMITS or self._bytes >= CHECKPOINT_BYTES
        if due and self.checkpointer is not None:
            self._commits = self._bytes = 0
            self.checkpointer.request()

    def _settle(self, group: list[_Job[Any]], results: list[tuple[bool, Any]]) -> None:
        """Hand the results to the event loop: one wake-up for the whole group."""
        group[0].loop.call_soon_threadsafe(self._answer, group, results)

    def _answer(self, group: list[_Job[Any]], results: list[tuple[bool, Any]]) -> None:
        self._unanswered -= len(group)
        _hand_over(group, results)


def _hand_over(group: list[_Job[Any]], results: list[tuple[bool, Any]]) -> None:
    """Each caller its result (on the event loop's thread)."""
    for job, (ok, value) in zip(group, results, strict=True):
        if job.future.done():  # its caller was cancelled; the work stands
            continue
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)


def _outcome(work: Callable[[sqlite3.Connection], Any], db: sqlite3.Connection) -> tuple[bool, Any]:
    try:
        return True, work(db)
    except Exception as exc:
        return False, exc
