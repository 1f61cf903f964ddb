"""A watcher of all runs wakes only for what it watches: events of other kinds
publish past it without a wake-up. A run nobody watches is not paced, and
every waiter counts itself as watching (else nothing would wake it)."""

from __future__ import annotations

import asyncio

import pytest

from stepline.v1 import events_pb2 as E
from stepline_runner.engine.hub import EventHub
from tests.unit.run_events import waiting_for_input


async def test_a_dashboard_of_some_kinds_is_not_woken_by_others() -> None:
    hub = EventHub()
    subscription = hub.subscribe_all(kinds=frozenset({E.EVENT_KIND_OUTPUT}))
    stream = subscription.batches()

    hub.publish("r", "w", [E.Event(run_id="r", sequence=1, kind=E.EVENT_KIND_CUSTOM)])
    assert not subscription.ready.is_set()

    hub.publish("r", "w", [E.Event(run_id="r", sequence=2, kind=E.EVENT_KIND_OUTPUT)])
    assert subscription.ready.is_set()
    assert [e.sequence for e in await anext(stream)] == [2]
    await stream.aclose()  # type: ignore[attr-defined]


def _event(sequence: int) -> E.Event:
    return E.Event(run_id="r", sequence=sequence, kind=E.EVENT_KIND_CUSTOM)


async def _never() -> int:
    raise AssertionError("the tail holds it")


async def test_a_run_nobody_watches_is_not_paced_and_its_first_watcher_sees_it_all() -> None:
    hub = EventHub()
    hub.publish("r", "w", [_event(1)])
    hub.publish("r", "w", [_event(2)])  # nobody to wake: no pacer timer, no wake-up
    tail = hub._runs["r"]
    assert tail.pacer.timer is None and not tail.changed.is_set()

    with hub.watching("r"):
        assert hub.recent("r", 0) == [_event(1), _event(2)]
        waiter = asyncio.ensure_future(hub.wait("r", 2, stored_last_sequence=_never))
        await asyncio.sleep(0)  # it waits on the tail now
        hub.publish("r", "w", [_event(3)])  # one watcher: woken at once
        await asyncio.wait_for(waiter, 5)
        assert hub.recent("r", 2) == [_event(3)]


async def test_a_waiter_that_is_not_counted_as_watching_is_refused() -> None:
    # A commit of a run nobody watches wakes nobody: an uncounted waiter
    # would sleep for ever, so it must not exist.
    hub = EventHub()
    hub.publish("r", "w", [_event(1)])
    with pytest.raises(AssertionError, match="watching"):
        await hub.wait("r", 1, stored_last_sequence=_never)
    with pytest.raises(AssertionError, match="watching"):
        await hub.joined("r", 0)


async def test_dashboards_see_a_run_waiting_for_input_at_once() -> None:
    # Paced, as a run's watchers are; but nothing follows a commit that
    # leaves a run waiting for input, and one of them may be who answers.
    hub = EventHub()
    subscriptions = [hub.subscribe_all() for _ in range(20)]
    hub.publish("r", "w", [_event(1)])  # the first after a quiet spell: at once
    assert all(s.ready.is_set() for s in subscriptions)
    for s in subscriptions:
        s.ready.clear()
    hub.publish("r", "w", [_event(2)])  # within the pace: held back
    assert not any(s.ready.is_set() for s in subscriptions)
    hub.publish("r", "w", [waiting_for_input(3)])
    assert all(s.ready.is_set() for s in subscriptions)
