"""The run log: what is appended is stored, then published exactly as stored;
nothing is kept of a run deleted or taken over by another runner."""

from __future__ import annotations

from typing import Any, cast

import pytest

from stepline import payloads
from stepline.testing import InProcessRunner
from stepline.v1 import events_pb2 as E
from stepline.v1 import payload_pb2, runner_pb2
from stepline_runner.engine import events as ev
from stepline_runner.engine.graph import Graph
from stepline_runner.engine.hub import EventHub
from stepline_runner.engine.runlog import RunLog
from stepline_runner.engine.state import RunState
from stepline_runner.engine.subscriptions import Subscription
from stepline_runner.errors import CommitOutcomeUnknown
from stepline_runner.store import RunUpdate, Store
from tests.unit.asker import Asker, asking
from tests.unit.graph_of_three import definition


async def test_appended_events_are_stored_then_published_with_their_sequence(store: Store) -> None:
    hub = EventHub()
    log = RunLog(store, hub)
    state = RunState("r", Graph.compile(definition()), superstep=0, checkpoint_id="")
    first = state.checkpoint(parent_checkpoint_id="")
    run = runner_pb2.Run(run_id="r", workflow_id="w", status=E.RUN_STATUS_RUNNING)
    created = await log.create(
        run, "", first, [ev.event(E.EVENT_KIND_RUN_STARTED, workflow_id="w")]
    )
    assert [e.sequence for e in created] == [1]
    watcher = hub.subscribe_all("w")

    error = payload_pb2.ErrorInfo(type="Boom", message="m")
    appended = await log.append(
        "r",
        "w",
        RunUpdate(E.RUN_STATUS_FAILED, 0, error),
        [
            ev.event(E.EVENT_KIND_RUN_FAILED, error=error),
            ev.status_changed(E.RUN_STATUS_FAILED, 0),
        ],
    )

    assert [e.sequence for e in appended] == [2, 3]
    assert [e for batch in watcher.buffer for e in batch] == appended
    assert await store.read_events("r", 0, 10) == created + appended
    stored = await store.get_run("r")
    assert stored is not None and stored.status == E.RUN_STATUS_FAILED
    assert stored.error.type == "Boom" and stored.last_sequence == 3
    # The run ended: its live tail is gone, watchers read the store.
    assert hub.recent("r", 0) is None


class Unheard:
    """A store whose next commit loses its answer: it lands (or not) and the
    caller hears CommitOutcomeUnknown."""

    def __init__(self, store: Store, lands: bool) -> None:
        self._store = store
        self._lands = lands
        self.armed = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def commit(self, *args: Any, **kwargs: Any) -> list[E.Event]:
        if not self.armed:
            return await self._store.commit(*args, **kwargs)
        self.armed = False
        if self._lands:
            await self._store.commit(*args, **kwargs)
        raise CommitOutcomeUnknown("the connection was lost during COMMIT")


async def started(store: Store, hub: EventHub) -> RunLog:
    log = RunLog(store, hub)
    state = RunState("r", Graph.compile(definition()), superstep=0, checkpoint_id="")
    run = runner_pb2.Run(run_id="r", workflow_id="w", status=E.RUN_STATUS_RUNNING)
    await log.create(
        run, "", state.checkpoint(parent_checkpoint_id=""), [ev.event(E.EVENT_KIND_RUN_STARTED)]
    )
    return log


def seen(watcher: Subscription) -> list[int]:
    return [e.sequence for batch in watcher.buffer for e in batch]


@pytest.mark.parametrize("lands", [True, False])
async def test_what_a_commit_of_unknown_outcome_stored_reaches_watchers_of_all_runs_once(
    store: Store, lands: bool
) -> None:
    hub = EventHub()
    unheard = Unheard(store, lands)
    log = await started(cast(Store, unheard), hub)
    watcher = hub.subscribe_all("w")
    update = RunUpdate(E.RUN_STATUS_RUNNING, 1)
    with pytest.raises(CommitOutcomeUnknown):
        await log.append("r", "w", update, [ev.event(E.EVENT_KIND_SUPERSTEP_STARTED, 1)])
    assert seen(watcher) == []
    # A commit before the run is read again: what landed unheard goes first.
    await log.append("r", "w", update, [ev.event(E.EVENT_KIND_SUPERSTEP_STARTED, 1)])
    await log.catch_up("r")
    await log.catch_up("r")
    assert seen(watcher) == ([2, 3] if lands else [2])
    assert [e.sequence for e in await store.read_events("r", 0, 10)] == [1, *seen(watcher)]


async def test_the_read_again_publishes_a_commit_that_landed_unheard(store: Store) -> None:
    hub = EventHub()
    log = await started(cast(Store, Unheard(store, True)), hub)
    watcher = hub.subscribe_all("w")
    with pytest.raises(CommitOutcomeUnknown):
        update = RunUpdate(E.RUN_STATUS_RUNNING, 1)
        await log.append("r", "w", update, [ev.event(E.EVENT_KIND_SUPERSTEP_STARTED, 1)])
    await log.catch_up("r")
    await log.catch_up("r")
    assert seen(watcher) == [2]


async def waiting(harness: InProcessRunner, run_id: str) -> None:
    """Return once the run waits for input."""
    async for batch in harness.runner.watch(run_id):
        if any(e.status == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS for e in batch):
            return


async def test_a_run_made_again_under_a_deleted_run_s_id_is_published_from_its_start(
    harness: InProcessRunner,
) -> None:
    """The log's record of the last sequence it published goes with a deleted
    run: a run that another runner ended (its end never published here) and
    this one deleted leaves nothing behind, and a run made again under its
    id reaches the watchers of all runs from its first event."""
    harness.host("svc", {"asker": Asker})
    await harness.runner.register_workflow(asking())
    await harness.runner.start_run("ask", payloads.encode(1), "r1")
    await waiting(harness, "r1")
    stored = await harness.store.get_run("r1")
    assert stored is not None and stored.last_sequence > 1
    ended = E.RUN_STATUS_CANCELLED
    await harness.store.commit(
        "r1", RunUpdate(ended, stored.superstep), [ev.status_changed(ended, stored.superstep)]
    )
    await harness.runner.delete_run("r1")
    assert harness.runner.log._published == {}  # nothing kept of the deleted run

    watcher = harness.runner.hub.subscribe_all("ask")
    await harness.runner.start_run("ask", payloads.encode(2), "r1")
    await waiting(harness, "r1")

    again = await harness.store.get_run("r1")
    assert again is not None
    assert seen(watcher) == list(range(1, again.last_sequence + 1))
