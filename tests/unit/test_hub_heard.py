"""News of another runner's commits (runners sharing a database) wakes a
run's watchers at the run's pace, as its commits made here do: a lone
watcher at once, many once a pace; the stale tail goes at once, so nobody
reads it; a deleted run, `wake_all`, the last watcher leaving and a commit
made here that shows at once (the run's end, or its wait for input) wake at once."""

from __future__ import annotations

import asyncio
import contextlib

from stepline.v1 import events_pb2 as E
from stepline_runner.engine.hub import EventHub
from stepline_runner.engine.pacing import pace_of
from tests.unit.clocks import clock_still
from tests.unit.run_events import ending, waiting_for_input


def _event(sequence: int) -> E.Event:
    return E.Event(run_id="r", sequence=sequence, kind=E.EVENT_KIND_CUSTOM)


async def _stored(last: int) -> int:
    return last


async def _waiting(hub: EventHub, after: int) -> asyncio.Future[None]:
    """A waiter of run r past `after`, asleep on the tail (which holds `after`)."""
    waiter = asyncio.ensure_future(hub.wait("r", after, lambda: _stored(after)))
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # past the store's answer: asleep on the tail now
    assert not waiter.done()
    return waiter


def _tail_of(hub: EventHub, last: int) -> None:
    hub.publish("r", "w", [_event(s) for s in range(1, last + 1)])


async def test_a_lone_watcher_is_woken_by_news_at_once() -> None:
    hub = EventHub()
    with hub.watching("r"):
        _tail_of(hub, 2)
        waiter = await _waiting(hub, 2)
        hub.heard("r")
        await asyncio.wait_for(waiter, 5)
        # The tail is stale: gone, so the watcher reads the store.
        assert hub.recent("r", 2) is None


async def test_many_watchers_are_woken_by_news_once_a_pace() -> None:
    hub = EventHub()
    count = 20
    pace = pace_of(count)
    with contextlib.ExitStack() as watching:
        for _ in range(count):
            watching.enter_context(hub.watching("r"))
        _tail_of(hub, 2)
        first = await _waiting(hub, 2)
        loop = asyncio.get_running_loop()
        began = loop.time()
        hub.heard("r")  # the first after a quiet spell: at once
        await asyncio.wait_for(first, 5)

        hub.publish("r", "w", [_event(3)])  # as a watcher's read of the store would find
        second = await _waiting(hub, 3)
        hub.heard("r")  # within the pace: held back
        hub.heard("r")  # and a third with it, no tail to drop
        for _ in range(5):
            await asyncio.sleep(0)
        assert not second.done()
        assert hub.recent("r", 3) is None  # the stale tail is gone already
        await asyncio.wait_for(second, 5)
        assert loop.time() >= began + pace


async def test_a_commit_made_here_after_news_starts_a_fresh_tail() -> None:
    # Held back, the news must not leave the stale tail to have this
    # runner's next commit appended after a gap (the other runner's events).
    hub = EventHub()
    with contextlib.ExitStack() as watching:
        for _ in range(20):
            watching.enter_context(hub.watching("r"))
        _tail_of(hub, 10)
        hub.heard("r")  # woke at once; the next is held back
        hub.publish("r", "w", [_event(11)])
        waiter = await _waiting(hub, 11)
        hub.heard("r")  # events 12..20 committed elsewhere
        hub.publish("r", "w", [_event(21)])  # the run moved back here
        hub._runs["r"].show()
        assert hub.recent("r", 11) is None  # not [21]: the store has 12..20
        assert hub.recent("r", 20) == [_event(21)]
        await asyncio.wait_for(waiter, 5)


async def _held_by_news(hub: EventHub, watching: contextlib.ExitStack) -> asyncio.Future[None]:
    """A waiter of run r (one of 20 watchers) held back by news at the pace."""
    for _ in range(20):
        watching.enter_context(hub.watching("r"))
    _tail_of(hub, 1)
    hub.heard("r")
    hub.publish("r", "w", [_event(2)])
    waiter = await _waiting(hub, 2)
    hub.heard("r")  # held back for most of 38 ms
    return waiter


async def test_a_deleted_run_or_the_last_watcher_leaving_wakes_held_waiters_at_once() -> None:
    for end in ("forget", "wake_all", "leave"):
        hub = EventHub()
        with contextlib.ExitStack() as watching:
            waiter = await _held_by_news(hub, watching)
            if end == "forget":
                hub.forget("r")
            elif end == "wake_all":
                hub.wake_all()
            else:
                watching.close()
            for _ in range(3):
                await asyncio.sleep(0)
            assert waiter.done(), end
            assert not hub._heard, end


async def test_a_commit_here_that_shows_at_once_wakes_waiters_held_by_news() -> None:
    # The run moved back here: its end (or its wait for input) must not reach
    # those held on the news' pace a pace late (review of 8fd0af0).
    for shown in (waiting_for_input(3), ending(3)):
        hub = EventHub()
        with contextlib.ExitStack() as watching, clock_still():  # its timer never fires
            waiter = await _held_by_news(hub, watching)
            hub.publish("r", "w", [shown])
            for _ in range(3):
                await asyncio.sleep(0)
            assert waiter.done(), shown.status


async def test_a_waiter_that_finds_the_store_ahead_waits_for_the_pace_too() -> None:
    # A run driven elsewhere commits faster than its watchers here read it:
    # each waiter would find the store ahead and read again at once, a
    # response per watcher per read. It waits for the run's pace instead.
    hub = EventHub()
    count = 20
    with contextlib.ExitStack() as watching:
        for _ in range(count):
            watching.enter_context(hub.watching("r"))
        loop = asyncio.get_running_loop()
        began = loop.time()
        hub.heard("r")  # no tail: nothing to drop, nobody woken
        await asyncio.wait_for(hub.wait("r", 0, lambda: _stored(1)), 5)  # the first: at once
        ahead = asyncio.ensure_future(hub.wait("r", 1, lambda: _stored(2)))
        for _ in range(5):
            await asyncio.sleep(0)
        assert not ahead.done()
        assert "r" not in hub._runs  # the next waiter asks the store again
        await asyncio.wait_for(ahead, 5)
        assert loop.time() >= began + pace_of(count)

    with hub.watching("r"):  # alone: at once
        await asyncio.wait_for(hub.wait("r", 2, lambda: _stored(3)), 5)
