"""A watcher reading a run from the store reads on until the store has no
more, however its reads are cut: by the store's byte cap (a few events of
large outputs a read), or at a run's end that a resume went on from. Only a
read that held all the store had waits for the hub (review of 8fd0af0: a
read that came back short was taken for the end of what is stored, and the
watcher slept on the run's tail, which another watcher had made, until a
commit that may never come)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import cast

from stepline.v1 import events_pb2 as E
from stepline.v1 import runner_pb2
from stepline_runner.engine.hub import EventHub
from stepline_runner.engine.replies import Batch
from stepline_runner.engine.watch import follow_run
from tests.unit.run_events import custom, ending


class _PagedStore:
    """A run's events, `page` at most a read (as the byte cap cuts them)."""

    def __init__(self, events: list[E.Event], status: E.RunStatus, page: int) -> None:
        self.events, self.status, self.page = events, status, page
        self.asked = asyncio.Event()  # get_run was called

    async def page_events(self, run_id: str, after: int, limit: int) -> tuple[list[E.Event], bool]:
        chosen = self.events[after : after + min(limit, self.page)]
        return chosen, after + len(chosen) < len(self.events)

    async def get_run(self, run_id: str) -> runner_pb2.Run:
        self.asked.set()
        return runner_pb2.Run(run_id="r", status=self.status, last_sequence=len(self.events))


def _run(store: _PagedStore) -> runner_pb2.Run:
    return runner_pb2.Run(run_id="r", status=store.status, last_sequence=len(store.events))


async def _asleep_on_the_tail(store: _PagedStore, hub: EventHub) -> asyncio.Future[None]:
    """A watcher that has seen all the run and follows it past its end: it
    asked the store how far the run goes and sleeps on the tail it made."""

    async def follow() -> None:
        seen = len(store.events)
        async for _ in follow_run(store, hub, _run(store), seen, frozenset(), True):  # type: ignore[arg-type]
            raise AssertionError("nothing more is stored")

    watcher = asyncio.ensure_future(follow())
    await store.asked.wait()
    store.asked.clear()
    return watcher


async def _sequences(
    store: _PagedStore, hub: EventHub, count: int | None, after_end: bool
) -> list[int]:
    """The first `count` sequences a watcher from 0 gets, or (None) all until
    its watch ends (5 s at most)."""
    got: list[int] = []
    watch = cast(
        AsyncGenerator[Batch, None],
        follow_run(store, hub, _run(store), 0, frozenset(), after_end),  # type: ignore[arg-type]
    )
    async with asyncio.timeout(5), contextlib.aclosing(watch):
        async for batch in watch:
            got += [e.sequence for e in batch]
            if count is not None and len(got) >= count:
                break
    return got


async def test_reads_cut_by_the_byte_cap_go_on_to_the_end() -> None:
    store = _PagedStore([*map(custom, range(1, 10)), ending(10)], E.RUN_STATUS_COMPLETED, page=2)
    hub = EventHub()
    other = await _asleep_on_the_tail(store, hub)
    try:
        assert await _sequences(store, hub, None, after_end=False) == list(range(1, 11))
    finally:
        other.cancel()


async def test_a_watcher_past_the_end_reads_what_a_resume_added_after_it() -> None:
    events = [*map(custom, range(1, 5)), ending(5), *map(custom, range(6, 10))]
    store = _PagedStore(events, E.RUN_STATUS_RUNNING, page=100)
    hub = EventHub()
    other = await _asleep_on_the_tail(store, hub)
    try:
        assert await _sequences(store, hub, 9, after_end=True) == list(range(1, 10))
    finally:
        other.cancel()


async def test_an_end_a_resume_went_on_from_is_passed_over() -> None:
    events = [*map(custom, range(1, 5)), ending(5), *map(custom, range(6, 9)), ending(9)]
    store = _PagedStore(events, E.RUN_STATUS_COMPLETED, page=3)
    assert await _sequences(store, EventHub(), None, after_end=False) == list(range(1, 10))


class _HeldStore(_PagedStore):
    """Its reads see the events there were when they began, and return once
    `gate` opens."""

    def __init__(self, events: list[E.Event]) -> None:
        super().__init__(events, E.RUN_STATUS_COMPLETED, page=100)
        self.gate, self.reading = asyncio.Event(), asyncio.Event()

    async def page_events(self, run_id: str, after: int, limit: int) -> tuple[list[E.Event], bool]:
        seen = await super().page_events(run_id, after, limit)
        self.reading.set()
        await self.gate.wait()
        return seen


async def test_an_end_read_before_a_resume_is_not_taken_for_the_last() -> None:
    # Review of 640a98c, which took a read that held all the store had for
    # proof of the end: a watcher that came after a resume joined a read
    # begun before it, and ended at the end the resume went on from.
    store, hub = _HeldStore([*map(custom, range(1, 10)), ending(10)]), EventHub()

    async def watch() -> list[int]:
        return await _sequences(store, hub, None, after_end=False)

    first = asyncio.ensure_future(watch())
    await store.reading.wait()
    resumed = [custom(11), ending(12)]  # while that read is under way
    store.events += resumed
    hub.publish("r", "w", resumed)
    second = asyncio.ensure_future(watch())  # its run row says 12
    for _ in range(3):
        await asyncio.sleep(0)  # it joins the read under way
    store.gate.set()
    assert await second == list(range(1, 13))
    assert await first == list(range(1, 13))
