"""Watchers catching up from the store (a run the hub's tail does not hold)
at the same position share one read: many watchers of a finished run read,
parse and frame each of its events once; a watcher that leaves does not
cancel the read for the others; nothing is kept once a read is done."""

from __future__ import annotations

import asyncio

import pytest

from stepline.v1 import events_pb2 as E
from stepline.v1 import runner_pb2
from stepline_runner.engine.hub import EventHub
from stepline_runner.engine.replies import Reply
from stepline_runner.engine.shared_reads import SharedReads
from stepline_runner.engine.watch import READ_BATCH, follow_run

EVENTS = READ_BATCH * 3 + 10  # four reads


def _event(sequence: int) -> E.Event:
    if sequence == EVENTS:
        return E.Event(
            run_id="r",
            sequence=sequence,
            kind=E.EVENT_KIND_STATUS_CHANGED,
            status=E.RUN_STATUS_COMPLETED,
        )
    return E.Event(run_id="r", sequence=sequence, kind=E.EVENT_KIND_CUSTOM)


RUN = runner_pb2.Run(run_id="r", status=E.RUN_STATUS_COMPLETED, last_sequence=EVENTS)


class _Store:
    """A finished run's events; counts the reads, each held until `gate` opens."""

    def __init__(self) -> None:
        self.reads: list[int] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.reading = asyncio.Event()

    async def page_events(self, run_id: str, after: int, limit: int) -> tuple[list[E.Event], bool]:
        self.reads.append(after)
        self.reading.set()
        await self.gate.wait()
        last = min(after + limit, EVENTS)
        return [_event(s) for s in range(after + 1, last + 1)], last < EVENTS

    async def get_run(self, run_id: str) -> runner_pb2.Run:
        return RUN


async def _follow(store: _Store, hub: EventHub) -> list[int]:
    seen: list[int] = []
    async for batch in follow_run(store, hub, RUN, 0, frozenset(), False):  # type: ignore[arg-type]
        seen += [e.sequence for e in batch]
    return seen


async def test_watchers_of_a_finished_run_read_each_part_of_it_once() -> None:
    store, hub = _Store(), EventHub()
    seen = await asyncio.gather(*(_follow(store, hub) for _ in range(20)))

    assert seen == [list(range(1, EVENTS + 1))] * 20
    assert store.reads == [0, READ_BATCH, 2 * READ_BATCH, 3 * READ_BATCH]  # not 20 of each
    assert not len(hub.stored)  # nothing kept


async def test_a_watcher_that_leaves_does_not_cancel_the_read_of_the_others() -> None:
    store, hub = _Store(), EventHub()
    store.gate.clear()
    leaving = asyncio.ensure_future(_follow(store, hub))
    staying = asyncio.ensure_future(_follow(store, hub))
    await store.reading.wait()  # both wait on the one read
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    store.gate.set()

    assert await staying == list(range(1, EVENTS + 1))
    assert store.reads[0] == 0 and store.reads.count(0) == 1


async def test_a_failed_read_reaches_every_watcher_of_it_and_is_not_kept() -> None:
    reads = SharedReads()
    gate = asyncio.Event()

    async def failing() -> Reply | None:
        await gate.wait()
        raise OSError("disk gone")

    key = ("r", 0, frozenset[E.EventKind]())
    waiters = [asyncio.ensure_future(reads.reply(key, failing)) for _ in range(3)]
    gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)

    assert [type(r) for r in results] == [OSError] * 3
    assert not len(reads)
    assert await reads.reply(key, _empty) is None  # a new read, not the failed one


async def _empty() -> Reply | None:
    return None
