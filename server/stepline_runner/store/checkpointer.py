"""`Checkpointer`: the SQLite store's WAL checkpoints, on a connection and a
thread of their own.

A WAL checkpoint copies the pages the WAL holds into the database file and,
unless synchronous=OFF, waits for the disk twice: milliseconds, tens of them
on a busy disk. Run on the write connection, every commit asked for meanwhile
waited for it (one superstep in a hundred took 15-40 ms instead of 0.8). SQLite
lets a checkpoint run on one connection while another commits: a PASSIVE
checkpoint copies the frames committed when it began, and the writer appends
after them; nobody waits.

But SQLite starts the WAL over (writes it from its beginning again) only
after a checkpoint copied all of it, which one beside a steady stream of
commits never does: the file would grow without end. So once it holds more
than `RESTART_BYTES`, `on_full` tells the writer, which copies the frames
committed since this checkpoint began itself, between two of its commits
(see writer.py), and the next commit starts the WAL over. That commit waits
for the disk (about three syncs), once per `RESTART_BYTES` of commits
rather than at every checkpoint.

The connection has the store's synchronous level, which is what decides
whether a checkpoint waits for the disk: durability is that of a checkpoint
on the write connection. `request` never blocks: a checkpoint asked for
while one runs is run once that one ends (never two at once, never more than
one waiting).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

# The WAL's size past which it is made to start over (see the module).
RESTART_BYTES = 16 * 1024 * 1024


class Checkpointer:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._wanted = threading.Event()
        self._closing = False
        self._done = threading.Condition()
        self.checkpoints = 0  # run so far (failed ones included), for tests and benchmarks
        # Told on the checkpointer's thread when the WAL should start over.
        self.on_full: Callable[[], None] | None = None
        (page_size,) = db.execute("PRAGMA page_size").fetchone()
        self._restart_frames = RESTART_BYTES // page_size
        self._thread = threading.Thread(target=self._serve, name="stepline-store-checkpointer")
        self._thread.daemon = True
        self._thread.start()

    @classmethod
    def connect(cls, path: str | Path, pragmas: Sequence[str] = ()) -> Checkpointer:
        """A checkpointer of the database at `path`, its connection set up with
        `pragmas` (the store's: synchronous decides what a checkpoint waits for)."""
        db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        try:
            for pragma in pragmas:
                db.execute(pragma).fetchall()
        except BaseException:
            db.close()
            raise
        return cls(db)

    def request(self) -> None:
        """Checkpoint the WAL soon, on the checkpointer's thread."""
        self._wanted.set()

    def wait(self, checkpoints: int, timeout: float) -> bool:
        """Block until `checkpoints` have run in all (False: not within `timeout`)."""
        with self._done:
            return self._done.wait_for(lambda: self.checkpoints >= checkpoints, timeout)

    def close(self) -> None:
        """Stop the thread (a checkpoint under way finishes) and close the connection."""
        self._closing = True
        self._wanted.set()
        self._thread.join()

    def _serve(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._closing:
                break
            self._checkpoint()
        self._db.close()

    def _checkpoint(self) -> None:
        try:
            frames = checkpoint(self._db)
        except sqlite3.Error as exc:
            log.warning("a WAL checkpoint failed (the next one retries): %s", exc)
        else:
            if frames >= self._restart_frames and self.on_full is not None:
                self.on_full()
        with self._done:
            self.checkpoints += 1
            self._done.notify_all()


def checkpoint(db: sqlite3.Connection) -> int:
    """A PASSIVE checkpoint: it never waits for readers or the writer; what it
    cannot copy yet, the next one does. The frames the WAL holds (-1: none)."""
    # A read first: a connection opened before the file was put in WAL mode
    # finds out only then, and till then its checkpoints do nothing.
    db.execute("PRAGMA schema_version").fetchone()
    (_, frames, _) = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(frames)
