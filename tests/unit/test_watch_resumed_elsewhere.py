"""A WatchRun served by a runner that shares its database: at an end of the
run, the store is asked whether the run went on (another runner resumed it,
and this runner has not heard of it yet: its tail says the end is the last
event), so the watcher follows the resume to the run's last end. On both
stores; "elsewhere" is a commit straight to the store, as another runner's
would be, unannounced."""

from __future__ import annotations

import asyncio

from stepline.v1 import events_pb2 as E
from stepline_runner.engine import events as ev
from stepline_runner.engine.hub import EventHub
from stepline_runner.engine.relay import Relay
from stepline_runner.engine.watch import follow_run
from stepline_runner.store import RunUpdate, Store
from tests.unit.test_relay import created


async def ended(
    store: Store, run_id: str, status: E.RunStatus, *kinds: E.EventKind
) -> list[E.Event]:
    events = [ev.event(kind, 1) for kind in kinds] + [ev.status_changed(status, 1)]
    return await store.commit(run_id, RunUpdate(status, 1), events)


async def test_a_watcher_at_an_end_follows_a_resume_this_runner_has_not_heard_of(
    store: Store,
) -> None:
    hub = EventHub()
    hub.relay = relay = Relay(store, hub)  # runners share the database
    await created(store, "r")
    with hub.watching("r"):  # another watcher keeps the run's tail past its end
        # This runner drove the run to its failure and published it.
        hub.publish("r", "w", await store.read_events("r", 0, 100))
        hub.publish("r", "w", await ended(store, "r", E.RUN_STATUS_FAILED))
        failed_at = (await store.get_run("r")).last_sequence  # type: ignore[union-attr]
        # Another runner resumed it and it completed; the news is still on its way.
        await ended(store, "r", E.RUN_STATUS_COMPLETED, E.EVENT_KIND_RUN_RESUMED)
        stored = await store.read_events("r", 0, 100)
        assert stored[-1].sequence > failed_at

        run = await store.get_run("r")
        assert run is not None
        seen: list[int] = []
        async with asyncio.timeout(10):
            async for batch in follow_run(store, hub, run, 0, frozenset(), False):
                seen += [e.sequence for e in batch]

    assert seen == [e.sequence for e in stored]  # past the failure, to the last end
    await relay.close()
