"""A watched run's tail keeps the events its watchers were not shown yet,
past its count (within its bytes): at the pace of a hundred watchers a fast
run commits more events than the count between two wake-ups, and without
them every wake-up sent its watchers to the store. Shown events go beyond
the count, as ever; a run nobody watches keeps its count even of a large
commit; and what is not shown yet is bounded in count too."""

from __future__ import annotations

import contextlib

from stepline_runner.engine.hub import UNSHOWN_KEPT, EventHub
from tests.unit.clocks import clock_still
from tests.unit.run_events import custom, waiting_for_input


async def test_a_wake_up_finds_what_it_shows_in_the_tail() -> None:
    hub = EventHub(tail_size=8)
    with clock_still(), contextlib.ExitStack() as watching:
        for _ in range(100):
            watching.enter_context(hub.watching("r"))
        hub.publish("r", "w", [custom(1)])  # the first after a quiet spell: shown at once
        for sequence in range(2, 51):
            hub.publish("r", "w", [custom(sequence)])  # held back for the pace
        assert hub.recent("r", 1) == []
        hub.publish("r", "w", [waiting_for_input(51)])  # shown at once

        assert hub.recent("r", 1) == [*map(custom, range(2, 51)), waiting_for_input(51)]
        hub.publish("r", "w", [custom(52)])
        assert [e.sequence for e in hub._runs["r"].events] == list(range(45, 53))


async def test_a_run_nobody_watches_keeps_its_count() -> None:
    hub = EventHub(tail_size=8)
    for sequence in range(1, 51):
        hub.publish("r", "w", [custom(sequence)])
    assert [e.sequence for e in hub._runs["r"].events] == list(range(43, 51))
    # A commit of many events (a fan-out's): its count, not all of them.
    hub.publish("r", "w", list(map(custom, range(51, 1051))))
    assert [e.sequence for e in hub._runs["r"].events] == list(range(1043, 1051))


async def test_what_a_tail_keeps_unshown_is_bounded_in_count_too() -> None:
    hub = EventHub(tail_size=8)
    with clock_still(), hub.watching("r"), hub.watching("r"):
        hub.publish("r", "w", [custom(1)])  # shown at once
        hub.publish("r", "w", list(map(custom, range(2, 1002))))  # held back for the pace
        assert len(hub._runs["r"].events) == UNSHOWN_KEPT * 8
