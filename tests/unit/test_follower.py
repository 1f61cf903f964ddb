"""A runner that follows a SQLite file another runner owns (`--follow`): an
owner's store and a followed one on the same file, in one process; the
follower's polls publish what the owner commits to the watchers here."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Collection
from pathlib import Path

import pytest
import pytest_asyncio

from stepline.v1 import events_pb2 as E
from stepline.v1 import runner_pb2
from stepline_runner.engine import events as ev
from stepline_runner.engine.follower import SEED, Follower
from stepline_runner.engine.hub import EventHub
from stepline_runner.engine.relay import Relay
from stepline_runner.engine.watch import follow_run
from stepline_runner.errors import FailedPrecondition, NotFound, Reason, StoreUnavailable
from stepline_runner.store import FileChanged, Position, RunUpdate
from stepline_runner.store.following import FollowedStore
from stepline_runner.store.schema import SCHEMA_VERSION, SchemaError
from stepline_runner.store.sqlite import SqliteStore
from tests.unit.test_relay import created, elsewhere


@pytest_asyncio.fixture
async def owner(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(tmp_path / "runs.db")
    yield store
    await store.close()


@pytest_asyncio.fixture
async def followed(owner: SqliteStore, tmp_path: Path) -> AsyncIterator[FollowedStore]:
    store = await FollowedStore.follow(tmp_path / "runs.db")
    yield store
    await store.close()


def following(followed: FollowedStore, poll: float = 1.0) -> tuple[EventHub, Follower]:
    """A hub as a follower's is (its relay set: a run's end is read from the
    store) and the follower feeding it (polled by hand unless started)."""
    hub = EventHub()
    hub.relay = Relay(followed, hub)
    return hub, Follower(followed, hub, poll)


class Reads:
    """Counts the follower's reads of the store."""

    def __init__(self, store: FollowedStore) -> None:
        self.positions = 0
        self.pages: list[int] = []  # after_sequence of each read of events
        self.failing = 0  # reads of positions to fail
        self._store = store

    def changed(self) -> bool:
        return self._store.changed()

    async def positions_of(self, run_ids: Collection[str]) -> dict[str, Position]:
        self.positions += 1
        if self.failing:
            self.failing -= 1
            raise StoreUnavailable("the file is locked")
        return await self._store.positions(run_ids)

    async def page_events(
        self, run_id: str, after_sequence: int, limit: int, *, incarnation: int
    ) -> tuple[list[E.Event], bool]:
        self.pages.append(after_sequence)
        return await self._store.page_events(run_id, after_sequence, limit, incarnation=incarnation)


def spied(followed: FollowedStore) -> tuple[EventHub, Reads, Follower]:
    """A hub, the follower's reads counted, and the follower (polled by hand)."""
    hub, reads = EventHub(), Reads(followed)

    class Store:
        changed = reads.changed
        positions = reads.positions_of
        page_events = reads.page_events

    return hub, reads, Follower(Store(), hub)


async def ended(store: SqliteStore, run_id: str) -> None:
    await store.commit(
        run_id,
        RunUpdate(E.RUN_STATUS_COMPLETED, 2),
        [ev.status_changed(E.RUN_STATUS_COMPLETED, 2)],
    )


async def watch(store: FollowedStore, hub: EventHub, run_id: str) -> list[int]:
    run = await store.get_run(run_id)
    assert run is not None
    return [
        e.sequence
        async for batch in follow_run(store, hub, run, 0, frozenset(), False)
        for e in batch
    ]


async def test_watchers_here_see_every_commit_of_the_owner_once_in_order(
    owner: SqliteStore, followed: FollowedStore
) -> None:
    hub, follower = following(followed, poll=0.001)
    await created(owner, "r")
    watchers = [asyncio.create_task(watch(followed, hub, "r")) for _ in range(5)]
    follower.start()
    try:
        for i in range(50):
            await elsewhere(owner, "r", f"step {i}", "and another")
            if i % 10 == 0:  # let the follower see some commits one by one
                await asyncio.sleep(0.002)
        await ended(owner, "r")
        async with asyncio.timeout(10):
            seen = await asyncio.gather(*watchers)
    finally:
        await follower.stop()
    stored = [e.sequence for e in await owner.read_events("r", 0, 1000)]
    assert stored == list(range(1, 103))
    assert seen == [stored] * 5


async def test_a_run_nobody_watches_costs_no_read(
    owner: SqliteStore, followed: FollowedStore
) -> None:
    _, reads, follower = spied(followed)
    await created(owner, "r")
    await elsewhere(owner, "r", "committed")

    await follower.poll()

    assert (reads.positions, reads.pages) == (0, [])


async def test_a_run_seen_the_first_time_is_published_from_its_latest_events(
    owner: SqliteStore, followed: FollowedStore
) -> None:
    hub, reads, follower = spied(followed)
    await created(owner, "r")
    last = SEED + 100
    await elsewhere(owner, "r", *(f"event {i}" for i in range(last - 1)))  # after RUN_STARTED
    with hub.watching("r"):
        await follower.poll()
        await elsewhere(owner, "r", "one more")
        await follower.poll()
        await follower.poll()  # nothing changed: no read

    assert reads.pages == [last - SEED, last]
    assert reads.positions == 2


async def test_a_failed_read_is_made_again_at_the_next_poll(
    owner: SqliteStore, followed: FollowedStore
) -> None:
    hub, reads, follower = spied(followed)
    await created(owner, "r")
    with hub.watching("r"):
        await follower.poll()
        await elsewhere(owner, "r", "committed")
        reads.failing = 1
        with pytest.raises(StoreUnavailable):
            await follower.poll()
        # The file says nothing changed since, but the commit was not read.
        await follower.poll()

    assert reads.pages == [0, 1]


async def test_a_watcher_of_a_run_deleted_by_the_owner_is_told(
    owner: SqliteStore, followed: FollowedStore
) -> None:
    hub, follower = following(followed, poll=0.001)
    await created(owner, "r")
    run = await followed.get_run("r")
    assert run is not None
    batches = follow_run(followed, hub, run, 0, frozenset(), False)
    assert [e.sequence for e in await anext(batches)] == [1]
    asked, get_run = asyncio.Event(), followed.get_run

    async def asking(run_id: str) -> runner_pb2.Run | None:
        try:
            return await get_run(run_id)
        finally:
            asked.set()  # the watcher sleeps once this returns: it saw the run there

    followed.get_run = asking  # type: ignore[method-assign]
    waiting = asyncio.ensure_future(anext(batches))
    await asked.wait()
    await owner.delete_run("r")
    follower.start()
    try:
        with pytest.raises(NotFound, match="was deleted"):
            async with asyncio.timeout(10):
                await waiting
    finally:
        await follower.stop()


async def test_a_followed_store_writes_nothing(
    owner: SqliteStore, followed: FollowedStore, tmp_path: Path
) -> None:
    await created(owner, "r")
    with pytest.raises(FailedPrecondition, match="read-only") as refused:
        await elsewhere(followed, "r", "from the follower")
    assert refused.value.reason == Reason.READ_ONLY
    with pytest.raises(FailedPrecondition):
        await followed.delete_run("r")
    assert [e.sequence for e in await owner.read_events("r", 0, 10)] == [1]
    # Not even by a bug: the connection itself is read-only.
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        await followed._reader.execute("DELETE FROM events")


async def test_only_a_stepline_file_of_this_schema_is_followed(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        await FollowedStore.follow(tmp_path / "missing.db")
    older = tmp_path / "older.db"
    store = await SqliteStore.open(older)
    await store.close()
    with sqlite3.connect(older) as db:
        db.execute("PRAGMA user_version = 3")
    with pytest.raises(SchemaError, match="schema version 3"):
        await FollowedStore.follow(older)
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()  # empty: a file no runner created
    with pytest.raises(SchemaError, match="creates or migrates"):
        await FollowedStore.follow(other)


async def test_a_run_watched_again_after_commits_unseen_here_is_read_afresh(
    owner: SqliteStore, followed: FollowedStore
) -> None:
    hub, follower = following(followed)
    await created(owner, "r")
    await created(owner, "other")
    await elsewhere(owner, "r", "2", "3")
    with hub.watching("other"):  # the follower polls on for this one throughout
        with hub.watching("r"):
            await follower.poll()  # publishes r's 1..3 to its tail
        await elsewhere(owner, "r", "4", "5")
        await ended(owner, "r")
        await follower.poll()  # r is watched no more: its commits are not published
        run = await followed.get_run("r")
        assert run is not None
        async with asyncio.timeout(10):  # a tail kept would say 3 is the last
            seen = [
                e.sequence
                async for batch in follow_run(followed, hub, run, 3, frozenset(), False)
                for e in batch
            ]
    assert seen == [4, 5, 6]


async def test_a_run_made_again_under_its_id_is_published_from_the_new_one(
    owner: SqliteStore, followed: FollowedStore
) -> None:
    hub, follower = following(followed)
    await created(owner, "r")
    await elsewhere(owner, "r", *(f"old {i}" for i in range(4)))
    with hub.watching("r"):
        await follower.poll()
        await owner.delete_run("r")
        await created(owner, "r")
        await elsewhere(owner, "r", *(f"new {i}" for i in range(9)))
        await follower.poll()
        run = await followed.get_run("r")
        assert run is not None
        await ended(owner, "r")
        await follower.poll()
        async with asyncio.timeout(10):
            seen = [
                e.SerializeToString()
                async for batch in follow_run(followed, hub, run, 0, frozenset(), False)
                for e in batch
            ]
    assert seen == [e.SerializeToString() for e in await owner.read_events("r", 0, 100)]


async def test_an_ended_run_is_kept_out_of_memory_until_it_moves(
    owner: SqliteStore, followed: FollowedStore
) -> None:
    hub, reads, follower = spied(followed)
    await created(owner, "r")
    await elsewhere(owner, "r", *(f"event {i}" for i in range(100)))
    await ended(owner, "r")
    with hub.watching("r"):  # WatchRun(follow_after_end) of a finished run
        await follower.poll()
        assert reads.pages == []
        await elsewhere(owner, "r", "resumed")  # as a resume of it would
        await follower.poll()
    assert reads.pages == [102]


async def test_a_replaced_or_migrated_file_stops_the_follower(
    owner: SqliteStore, followed: FollowedStore, tmp_path: Path
) -> None:
    followed.changed()
    with sqlite3.connect(tmp_path / "runs.db") as db:
        db.execute("PRAGMA user_version = 99")  # a newer owner migrated it
    with pytest.raises(FileChanged, match="migrated to schema version 99"):
        followed.changed()
    assert followed.lost.is_set()
    with sqlite3.connect(tmp_path / "runs.db") as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    other = await FollowedStore.follow(tmp_path / "runs.db")
    try:
        (tmp_path / "runs.db").rename(tmp_path / "moved.db")
        with pytest.raises(FileChanged, match="replaced or removed"):
            other.changed()
        assert isinstance(other.lost_because, FileChanged)
    finally:
        await other.close()


async def test_a_failing_file_is_logged_once_until_it_mends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "stepline_runner.engine.follower")
    polled = asyncio.Event()

    class Failing:
        calls = 0

        def changed(self) -> bool:
            Failing.calls += 1
            if Failing.calls == 8:
                polled.set()
            if Failing.calls < 5:
                raise StoreUnavailable("the file is locked")
            return False

        async def positions(self, run_ids: Collection[str]) -> dict[str, Position]:
            raise AssertionError("nothing is watched")

        async def page_events(
            self, run_id: str, after_sequence: int, limit: int, *, incarnation: int
        ) -> tuple[list[E.Event], bool]:
            raise AssertionError("nothing is watched")

    follower = Follower(Failing(), EventHub(), poll=0)
    follower.start()
    async with asyncio.timeout(10):
        await polled.wait()
    await follower.stop()
    said = [r.getMessage() for r in caplog.records if "following the database" in r.getMessage()]
    assert said == [
        "following the database failed, trying again: the file is locked",
        "following the database again",
    ]
