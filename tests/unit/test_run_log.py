"""The run log: what is appended is stored, then published exactly as stored."""

from __future__ import annotations

from stepline.v1 import events_pb2 as E
from stepline.v1 import payload_pb2, runner_pb2
from stepline_runner.engine import events as ev
from stepline_runner.engine.graph import Graph
from stepline_runner.engine.hub import EventHub
from stepline_runner.engine.runlog import RunLog
from stepline_runner.engine.state import RunState
from stepline_runner.store import RunUpdate, Store
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
