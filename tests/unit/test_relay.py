"""The relay: what other runners commit reaches this runner's watchers of
all runs, in order and once with this runner's own commits of the same run,
also when the run moves between them. On both stores; "elsewhere" is a
commit straight to the store, as another runner's would be. Events are
stamped with the time they are made, as the engine's are (a run made again
under a deleted id is told from the old one by it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from stepline.v1 import events_pb2 as E
from stepline.v1 import runner_pb2
from stepline_runner.engine import events as ev
from stepline_runner.engine.graph import Graph
from stepline_runner.engine.hub import EventHub
from stepline_runner.engine.relay import Relay
from stepline_runner.engine.state import RunState
from stepline_runner.store import RunUpdate, Store
from stepline_runner.store.news import RECONNECTED, Committed
from tests.unit.graph_of_three import definition


async def created(store: Store, run_id: str, workflow_id: str = "w") -> None:
    state = RunState(run_id, Graph.compile(definition()), superstep=0, checkpoint_id="")
    run = runner_pb2.Run(run_id=run_id, workflow_id=workflow_id, status=E.RUN_STATUS_RUNNING)
    started = [ev.event(E.EVENT_KIND_RUN_STARTED)]
    await store.create_run(run, "", state.checkpoint(parent_checkpoint_id=""), started)


async def elsewhere(store: Store, run_id: str, *messages: str) -> list[E.Event]:
    events = [ev.event(E.EVENT_KIND_WARNING, message=m) for m in messages]
    return await store.commit(run_id, RunUpdate(E.RUN_STATUS_RUNNING, 1), events)


async def here(store: Store, hub: EventHub, run_id: str, *messages: str) -> None:
    hub.publish(run_id, "w", await elsewhere(store, run_id, *messages))


async def received(batches: AsyncIterator[list[E.Event]], count: int) -> list[tuple[str, int]]:
    got: list[tuple[str, int]] = []
    async with asyncio.timeout(5):
        while len(got) < count:
            got += [(e.run_id, e.sequence) for e in await anext(batches)]
    return got


async def test_commits_elsewhere_and_here_reach_a_watcher_once_in_order(store: Store) -> None:
    hub = EventHub()
    hub.relay = relay = Relay(store, hub)
    watcher = hub.subscribe_all().batches()
    await created(store, "r")  # by another runner, which drives it first
    await elsewhere(store, "r", "two", "three")
    relay.committed(Committed("r", 1))
    assert await received(watcher, 3) == [("r", 1), ("r", 2), ("r", 3)]

    await here(store, hub, "r", "four")  # this runner took it over
    assert await received(watcher, 1) == [("r", 4)]

    await elsewhere(store, "r", "five", "six")  # it moved again; the news is late
    await here(store, hub, "r", "seven")  # and back: the gap is read first
    relay.committed(Committed("r", 5))  # the late news adds nothing
    relay.committed(RECONNECTED)
    assert await received(watcher, 3) == [("r", 5), ("r", 6), ("r", 7)]
    await here(store, hub, "r", "eight")
    assert await received(watcher, 1) == [("r", 8)]  # nothing twice in between
    await relay.close()


async def test_news_is_checked_against_the_store(store: Store) -> None:
    hub = EventHub()
    hub.relay = relay = Relay(store, hub)
    watcher = hub.subscribe_all(workflow_id="mine").batches()
    await created(store, "theirs", workflow_id="other")
    await created(store, "r", workflow_id="mine")
    relay.committed(Committed("no-such-run", 1))
    relay.committed(Committed("theirs", 1))  # not this watcher's workflow
    relay.committed(Committed("r", 99))  # beyond the log: nothing to read yet
    await asyncio.gather(*relay._reading.values())
    await elsewhere(store, "r", "two")
    relay.committed(Committed("r", 2))
    assert await received(watcher, 1) == [("r", 2)]
    await relay.close()


async def test_without_watchers_of_all_runs_it_reads_nothing(store: Store) -> None:
    hub = EventHub()
    hub.relay = relay = Relay(store, hub)
    await created(store, "r")
    relay.committed(Committed("r", 1))
    await here(store, hub, "r", "two")
    assert relay._reading == {} and relay._cursors == {}
    await relay.close()


async def deleted_elsewhere(store: Store, run_id: str) -> None:
    """Another runner ended the run and deleted it, unheard here."""
    ended = E.RUN_STATUS_CANCELLED
    await store.commit(run_id, RunUpdate(ended, 1), [ev.status_changed(ended, 1)])
    await store.delete_run(run_id)


async def followed(store: Store, hub: EventHub, relay: Relay) -> AsyncIterator[list[E.Event]]:
    """A watcher of all runs that got run r's events up to sequence 3."""
    watcher = hub.subscribe_all().batches()
    await created(store, "r")
    await elsewhere(store, "r", "two", "three")
    relay.committed(Committed("r", 1))
    assert await received(watcher, 3) == [("r", 1), ("r", 2), ("r", 3)]
    await asyncio.gather(*relay._reading.values())  # its read is over: what follows is unheard
    return watcher


async def test_a_run_made_again_elsewhere_under_a_deleted_id_is_relayed_from_its_start(
    store: Store,
) -> None:
    hub = EventHub()
    hub.relay = relay = Relay(store, hub)
    watcher = await followed(store, hub, relay)
    await deleted_elsewhere(store, "r")
    relay.committed(Committed("r", 4))  # the end's news, read once the run was gone
    await asyncio.gather(*relay._reading.values())

    await created(store, "r")  # made again under its id
    await elsewhere(store, "r", "two", "three", "four")
    relay.committed(Committed("r", 1))
    assert await received(watcher, 4) == [("r", 1), ("r", 2), ("r", 3), ("r", 4)]
    await relay.close()


async def test_a_run_made_again_here_under_an_id_deleted_elsewhere_is_relayed_from_its_start(
    store: Store,
) -> None:
    hub = EventHub()
    hub.relay = relay = Relay(store, hub)
    watcher = await followed(store, hub, relay)
    await deleted_elsewhere(store, "r")  # nothing heard of it

    await created(store, "r")  # this runner makes it again, and publishes
    hub.publish("r", "w", await store.read_events("r", 0, 10))
    await here(store, hub, "r", "two", "three")
    assert await received(watcher, 3) == [("r", 1), ("r", 2), ("r", 3)]
    await here(store, hub, "r", "four")
    assert await received(watcher, 1) == [("r", 4)]
    await relay.close()


async def test_a_run_deleted_here_leaves_no_cursor(store: Store) -> None:
    hub = EventHub()
    hub.relay = relay = Relay(store, hub)
    await followed(store, hub, relay)
    assert relay._cursors == {"r": 3}
    relay.forget("r")  # RunLog.deleted
    assert relay._cursors == {} and relay._marks == {} and relay._reading == {}
    await relay.close()


async def test_after_the_news_reconnects_runs_followed_catch_up_from_the_store(
    store: Store,
) -> None:
    hub = EventHub()
    hub.relay = relay = Relay(store, hub)
    watcher = await followed(store, hub, relay)
    await elsewhere(store, "r", "four", "five")  # committed while nothing was heard
    relay.committed(RECONNECTED)
    assert await received(watcher, 2) == [("r", 4), ("r", 5)]
    await relay.close()
