"""A finished run's tail in the hub (its events, pacer, frames and replies)
is freed as soon as the hub lets go of it, by reference counting alone: with
the cyclic GC off, nothing of it is left. (A tail whose pacer held the tail's
own `show` was a cycle: every finished run's events waited in memory for a
full collection, lifting the runner's memory plateau under many runs.)"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from stepline import payloads
from stepline.testing import InProcessRunner
from stepline.v1 import events_pb2 as E
from stepline_runner.engine.hub import EventHub, _RunTail
from tests.unit.gated import Stepper, loop


def event(sequence: int, kind: int = E.EVENT_KIND_CUSTOM, **fields: object) -> E.Event:
    return E.Event(run_id="r", sequence=sequence, kind=kind, **fields)  # type: ignore[arg-type]


def ending(sequence: int) -> E.Event:
    return event(sequence, E.EVENT_KIND_STATUS_CHANGED, status=E.RUN_STATUS_COMPLETED)


@pytest.fixture(autouse=True)
def no_cyclic_gc() -> Iterator[None]:
    gc.collect()  # what earlier tests left, so it does not run while disabled
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def tail_refs(hub: EventHub, run_id: str = "r") -> list[weakref.ref[object]]:
    tail = hub._runs[run_id]
    return [weakref.ref(tail), weakref.ref(tail.pacer)]


def tails_alive() -> int:
    # gc.get_objects lists every tracked object, garbage that is not collected yet too.
    return sum(isinstance(o, _RunTail) for o in gc.get_objects())


async def test_an_unwatched_run_s_tail_is_freed_when_it_ends() -> None:
    hub = EventHub()
    hub.publish("r", "w", [event(1), event(2)])
    refs = tail_refs(hub)

    hub.publish("r", "w", [ending(3)])

    assert [r() for r in refs] == [None, None]
    assert tails_alive() == 0


async def test_a_watched_run_s_tail_and_its_replies_are_freed_when_the_last_watcher_leaves() -> (
    None
):
    hub = EventHub()
    with hub.watching("r"), hub.watching("r"):
        hub.publish("r", "w", [event(1), event(2, E.EVENT_KIND_OUTPUT)])  # shown at once
        reply = hub.reply("r", 0, frozenset())
        outputs = hub.reply("r", 0, frozenset({E.EVENT_KIND_OUTPUT}))
        assert reply is not None and outputs is not None and reply.last == 2
        refs: list[weakref.ref[object]] = [*tail_refs(hub), weakref.ref(reply)]
        refs.append(weakref.ref(outputs))
        del reply, outputs
        hub.publish("r", "w", [ending(3)])
        end = hub.reply("r", 2, frozenset())
        assert end is not None and end.ended  # still served from the tail
        refs.append(weakref.ref(end))
        del end

    assert [r() for r in refs] == [None] * 5
    assert tails_alive() == 0


async def test_a_run_that_ends_while_its_watchers_wait_for_the_pace_leaves_nothing() -> None:
    hub = EventHub()
    changed = asyncio.Event()
    with hub.watching("r"), hub.watching("r"), hub.watching("r"):
        hub.publish("r", "w", [event(1)])  # shown at once: the first after a quiet spell
        tail = hub._runs["r"]
        tail.pacer.woke_at = asyncio.get_running_loop().time() + 60  # the next waits
        hub.publish("r", "w", [event(2)])  # shown at the pace: a timer holds the tail
        assert tail.pacer.timer is not None and tail.visible == 1
        waiter = asyncio.ensure_future(tail.changed.wait())
        waiter.add_done_callback(lambda _: changed.set())
        refs = tail_refs(hub)
        del tail
        hub.publish("r", "w", [ending(3)])
        await changed.wait()  # the end woke them at once
    await waiter

    assert [r() for r in refs] == [None, None]
    assert tails_alive() == 0


async def test_a_forgotten_run_s_tail_is_freed_with_its_timer_pending() -> None:
    hub = EventHub()
    with hub.watching("r"), hub.watching("r"):
        hub.publish("r", "w", [event(1)])
        hub._runs["r"].pacer.woke_at = asyncio.get_running_loop().time() + 60
        hub.publish("r", "w", [event(2)])
        assert hub._runs["r"].pacer.timer is not None
        refs = tail_refs(hub)

        hub.forget("r")  # deleted, or committed to by another runner

        assert [r() for r in refs] == [None, None]


async def test_runs_driven_and_watched_to_their_end_leave_no_tail_in_the_runner(
    harness: InProcessRunner,
) -> None:
    harness.host("svc", {"stepper": Stepper})
    await harness.runner.register_workflow(loop().build())
    Stepper.reset()
    Stepper.release.set()  # never held
    watched = await harness.runner.start_run("w", payloads.encode(1))
    unwatched = await harness.runner.start_run("w", payloads.encode(1))
    sequences = [e.sequence async for batch in harness.runner.watch(watched.run_id) for e in batch]
    for run in (watched, unwatched):
        task = harness.runner.runs.task(run.run_id)
        if task is not None:
            await task
        stored = await harness.store.get_run(run.run_id)
        assert stored is not None and stored.status == E.RUN_STATUS_COMPLETED
        if run is watched:  # watched to its end
            assert sequences == list(range(1, stored.last_sequence + 1))

    assert tails_alive() == 0
