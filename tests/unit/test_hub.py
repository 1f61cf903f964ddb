"""Live delivery to watchers of all runs: bounded per watcher."""

from __future__ import annotations

import pytest

from stepline.v1 import events_pb2 as E
from stepline_runner.engine.errors import ResourceExhausted
from stepline_runner.engine.hub import EventHub


def batch(run_id: str, first: int, count: int) -> list[E.Event]:
    return [
        E.Event(run_id=run_id, sequence=n, kind=E.EVENT_KIND_CUSTOM)
        for n in range(first, first + count)
    ]


async def test_a_dashboard_sees_each_workflows_events_in_commit_order() -> None:
    hub = EventHub()
    stream = hub.subscribe_all(workflow_id="w").batches()
    hub.publish("r1", "other", batch("r1", 1, 2))
    hub.publish("r2", "w", batch("r2", 1, 3))

    received = await anext(stream)

    assert [(e.run_id, e.sequence) for e in received] == [("r2", 1), ("r2", 2), ("r2", 3)]


async def test_a_dashboard_that_falls_too_far_behind_is_told_and_costs_bounded_memory() -> None:
    events = batch("r", 1, 10)
    hub = EventHub(subscriber_bytes=3 * events[0].ByteSize())
    subscription = hub.subscribe_all()
    stream = subscription.batches()
    hub.publish("r", "w", events)  # nobody reads meanwhile

    assert not subscription.buffer  # what it held went at once
    with pytest.raises(ResourceExhausted, match="bytes of events behind") as ended:
        await anext(stream)
    assert "WatchRun from the last sequence" in str(ended.value)


async def test_batches_to_a_dashboard_are_bounded_in_bytes() -> None:
    big = [
        E.Event(run_id="r", sequence=n, kind=E.EVENT_KIND_CUSTOM, message="x" * 400_000)
        for n in range(1, 6)
    ]
    hub = EventHub()
    stream = hub.subscribe_all().batches()
    hub.publish("r", "w", big)

    sizes = [len(await anext(stream)) for _ in range(3)]

    assert sizes == [2, 2, 1]  # 1 MiB per batch at most
