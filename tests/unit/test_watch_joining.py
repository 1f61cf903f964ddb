"""Watchers joining a live run: a wake-up that is due moves to the pace of
the watchers there are now, and a watcher that joins while one is due
catches up with it, in one batch, not first in one of its own."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from stepline.v1 import events_pb2 as E
from stepline.v1 import runner_pb2
from stepline_runner.engine.hub import EventHub
from stepline_runner.engine.pacing import pace_of
from stepline_runner.engine.watch import follow_run
from tests.unit.clocks import clock_still


def _event(sequence: int) -> E.Event:
    return E.Event(run_id="r", sequence=sequence, kind=E.EVENT_KIND_CUSTOM)


class _NoStore:
    """The run's tail holds everything: the store is never read."""

    async def page_events(self, run_id: str, after: int, limit: int) -> tuple[list[E.Event], bool]:
        raise AssertionError("read from the store")

    async def get_run(self, run_id: str) -> runner_pb2.Run:
        raise AssertionError("read from the store")


RUNNING = runner_pb2.Run(run_id="r", status=E.RUN_STATUS_RUNNING)


async def test_a_wake_up_that_is_due_moves_to_the_pace_of_the_watchers_there_are_now() -> None:
    hub = EventHub()
    with clock_still(), hub.watching("r"), hub.watching("r"):
        hub.publish("r", "w", [_event(1)])  # shown at once
        hub.publish("r", "w", [_event(2)])  # due once the pace of 2 has passed
        pacer = hub._runs["r"].pacer
        assert pacer.timer is not None
        due = pacer.timer.when()
        assert due == pytest.approx(pacer.woke_at + pace_of(2))

        with contextlib.ExitStack() as more:
            for _ in range(98):
                more.enter_context(hub.watching("r"))
            assert pacer.timer is not None
            assert pacer.timer.when() == pytest.approx(pacer.woke_at + pace_of(100))
            assert pacer.timer.when() > due
            assert hub.recent("r", 1) == []  # still held back

        end = E.Event(
            run_id="r", sequence=3, kind=E.EVENT_KIND_STATUS_CHANGED, status=E.RUN_STATUS_COMPLETED
        )
        hub.publish("r", "w", [end])  # the end shows at once, whatever the pace
        assert hub.recent("r", 1) == [_event(2), end]


async def test_a_wake_up_that_is_due_never_moves_earlier() -> None:
    hub = EventHub()
    with clock_still(), hub.watching("r"):
        with hub.watching("r"), hub.watching("r"):
            hub.publish("r", "w", [_event(1)])  # shown at once
            hub.publish("r", "w", [_event(2)])  # due once the pace of 3 has passed
            pacer = hub._runs["r"].pacer
            assert pacer.timer is not None
            due = pacer.timer.when()
        with hub.watching("r"):  # 2 now: a shorter pace, and the wake-up stays
            assert pacer.timer is not None and pacer.timer.when() == due


async def test_a_watcher_joining_while_a_wake_up_is_due_catches_up_with_it() -> None:
    hub = EventHub()
    with hub.watching("r"), hub.watching("r"):  # others: the run's commits are paced
        with clock_still():
            hub.publish("r", "w", [_event(1)])  # shown at once
            hub.publish("r", "w", [_event(2)])  # shown once the pace has passed
            assert hub.recent("r", 0) == [_event(1)]

        batches = follow_run(_NoStore(), hub, RUNNING, 0, frozenset(), False)  # type: ignore[arg-type]
        first = await anext(batches)

        # Sequence 1 did not go out alone, ahead of the wake-up that shows 2.
        assert [e.sequence for e in first] == [1, 2]
        await batches.aclose()  # type: ignore[attr-defined]


async def test_a_watcher_joining_a_quiet_run_catches_up_at_once() -> None:
    hub = EventHub()
    with hub.watching("r"):
        hub.publish("r", "w", [_event(1), _event(2)])  # shown at once, nothing due

        batches = follow_run(_NoStore(), hub, RUNNING, 0, frozenset(), False)  # type: ignore[arg-type]
        first = await asyncio.wait_for(anext(batches), timeout=10)

        assert [e.sequence for e in first] == [1, 2]
        await batches.aclose()  # type: ignore[attr-defined]
