"""A watcher of all runs wakes only for what it watches: events of other kinds
publish past it without a wake-up."""

from __future__ import annotations

from stepline.v1 import events_pb2 as E
from stepline_runner.engine.hub import EventHub


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
