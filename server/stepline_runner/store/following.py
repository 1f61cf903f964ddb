"""Following a SQLite file another runner owns (`stepline-runner --follow`):
its reads, no writes, and news of its commits read off the file.

SQLite tells a connection whether another has committed since it last asked
(`PRAGMA data_version`, read from the WAL's shared memory: microseconds, and
no lock). `FileNews` asks; when something was committed, the follower reads
the rows of the runs its watchers follow (`positions`), and a run whose last
sequence moved is news, as another runner's notification is on PostgreSQL.
Runs nobody watches here cost nothing. The events table has no order across
runs to follow, so the watchers of all runs (WatchRuns) are not served here.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable, Collection
from pathlib import Path
from typing import NamedTuple, TypeVar
from urllib.parse import quote

import aiosqlite

from stepline.v1 import events_pb2

from ..errors import FailedPrecondition, Reason
from .failures import translated
from .schema import SCHEMA_VERSION, SchemaError
from .sqlite import SqliteStore

T = TypeVar("T")
# Run ids in one query (SQLite's default limit of variables is 32,766).
POSITIONS_BATCH = 500


def read_only_uri(path: str | Path) -> str:
    """The file, opened read-only: a follower can never write to it, even by a bug."""
    return f"file:{quote(str(Path(path).resolve()))}?mode=ro"


class FileChanged(RuntimeError):
    """The followed file is not the one the follower opened any more (replaced,
    deleted, or migrated by a newer owner): it cannot be followed on."""


class Position(NamedTuple):
    """Where a run stands in the file."""

    last_sequence: int
    workflow_id: str
    incarnation: int  # its row's seq: a run deleted and made again under its id has another
    status: events_pb2.RunStatus


class FileNews:
    """Whether anyone committed to the file since the last `changed()`."""

    def __init__(self, path: str | Path) -> None:
        if not Path(path).is_file():  # else SQLite says "unable to open database file"
            raise FileNotFoundError(f"{path} does not exist: follow a file its runner created")
        self._path = path
        # Absolute, as the connections' URI is: a later chdir changes nothing;
        # not resolved: a link made to point elsewhere counts as replaced.
        self._where = os.path.abspath(path)
        self._file = _identity(self._where)
        # On the event loop: a read of shared memory. timeout=0: a lock held
        # (the owner recovering its WAL) fails this poll, never waits on the loop.
        self._db = sqlite3.connect(read_only_uri(path), uri=True, isolation_level=None, timeout=0)
        self._version: int | None = None

    def check(self) -> None:
        """A follower reads the schema as this version of Stepline writes it
        and never migrates: the owner, of the same version, must have opened it."""
        with translated():
            (version,) = self._db.execute("PRAGMA user_version").fetchone()
            (mode,) = self._db.execute("PRAGMA journal_mode").fetchone()
        if version != SCHEMA_VERSION:
            first = " (it creates or migrates the file when it opens it)" if version == 0 else ""
            raise SchemaError(
                f"{self._path} has schema version {version}, this runner reads "
                f"{SCHEMA_VERSION}: follow it with the Stepline version of the runner "
                f"that owns it{first}"
            )
        if str(mode).lower() != "wal":
            raise SchemaError(f"{self._path} is not in WAL mode: not a Stepline runner's file")

    def changed(self) -> bool:
        """Raises FileChanged when the path names another file now, or the
        owner migrated it to another schema."""
        if _identity(self._where) != self._file:
            raise FileChanged(f"{self._path} was replaced or removed since this runner opened it")
        with translated():
            version = int(self._db.execute("PRAGMA data_version").fetchone()[0])
            changed = version != self._version
            if changed:
                (schema,) = self._db.execute("PRAGMA user_version").fetchone()
        self._version = version
        if changed and schema != SCHEMA_VERSION:
            raise FileChanged(
                f"{self._path} was migrated to schema version {schema}; this runner reads "
                f"{SCHEMA_VERSION}: start it with the Stepline version of the owner"
            )
        return changed

    def close(self) -> None:
        self._db.close()


def _identity(path: str | Path) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


def positions_query(count: int) -> str:
    marks = ",".join("?" * count)
    return (
        "SELECT run_id, last_sequence, workflow_id, seq, status FROM runs"
        f" WHERE run_id IN ({marks})"
    )


def batches(run_ids: Collection[str]) -> list[list[str]]:
    ids = list(run_ids)
    return [ids[i : i + POSITIONS_BATCH] for i in range(0, len(ids), POSITIONS_BATCH)]


class FollowedStore(SqliteStore):
    """`SqliteStore` of a file another runner owns: its reads (no lock taken),
    news of its commits (`changed`, `positions`), and no writes."""

    def __init__(self, path: str | Path, reader: aiosqlite.Connection, news: FileNews) -> None:
        # No writer and no lock: this runner writes nothing, the owner holds the file.
        self.path = path
        self._reader = reader
        self._news = news
        # Set when the file cannot be followed on (`lost_because` says why): the
        # command stops the runner then, as it does when a PostgreSQL one loses its lock.
        self.lost = asyncio.Event()
        self.lost_because: FileChanged | None = None

    @classmethod
    async def follow(cls, path: str | Path) -> FollowedStore:
        news = FileNews(path)
        try:
            news.check()
            reader = await aiosqlite.connect(read_only_uri(path), uri=True, isolation_level=None)
        except BaseException:
            news.close()
            raise
        await reader.execute("PRAGMA busy_timeout=5000")
        return cls(path, reader, news)

    async def close(self) -> None:
        await self._reader.close()
        self._news.close()

    async def _transact(self, work: Callable[[sqlite3.Connection], T], size: int = 0) -> T:
        # The API refuses every write before this (api/auth.py): the last word.
        raise FailedPrecondition(
            f"this runner follows {Path(self.path).name} read-only (--follow): it changes "
            "nothing; call the runner that owns the file",
            reason=Reason.READ_ONLY,
        )

    def changed(self) -> bool:
        """Whether the owner committed since the last call (the first: True);
        FileChanged (and `lost` set) when the file cannot be followed on."""
        try:
            return self._news.changed()
        except FileChanged as exc:
            self.lost_because = exc
            self.lost.set()
            raise

    async def positions(self, run_ids: Collection[str]) -> dict[str, Position]:
        """Where those of the runs that exist stand."""
        found: dict[str, Position] = {}
        for batch in batches(run_ids):
            for run_id, *row in await self._all(positions_query(len(batch)), batch):
                last, workflow_id, seq, status = row
                found[run_id] = Position(int(last), str(workflow_id), int(seq), status)
        return found
