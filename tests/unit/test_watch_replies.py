"""What watchers are sent: replies cut at the run's end, by kinds and by
bytes; one reply made for every watcher of a run at the same position; a
run's many watchers woken together at a pace; and the bytes a namespace's
watcher is sent being its own run's events, in its own ids."""

from __future__ import annotations

import asyncio

from stepline import payloads
from stepline.testing import InProcessRunner
from stepline.v1 import events_pb2 as E
from stepline.v1 import runner_pb2
from stepline_runner.engine.hub import EventHub
from stepline_runner.engine.replies import Batch, cut, frame
from stepline_runner.engine.tenancy import Tenant
from tests.unit.asker import Asker, asking
from tests.unit.clocks import clock_still


def event(sequence: int, kind: int = E.EVENT_KIND_CUSTOM, **fields: object) -> E.Event:
    return E.Event(run_id="r", sequence=sequence, kind=kind, **fields)  # type: ignore[arg-type]


def ending(sequence: int) -> E.Event:
    return event(sequence, E.EVENT_KIND_STATUS_CHANGED, status=E.RUN_STATUS_COMPLETED)


def framed(e: E.Event) -> bytes:
    return frame(e.SerializeToString())


def test_a_reply_ends_at_the_run_s_end_and_holds_only_the_kinds_watched() -> None:
    events = [event(1), event(2, E.EVENT_KIND_OUTPUT), ending(3), event(4)]

    everything = cut(events, (), framed)
    outputs = cut(events, {E.EVENT_KIND_OUTPUT}, framed)
    none = cut(events[:1], {E.EVENT_KIND_OUTPUT}, framed)

    assert [[e.sequence for e in b] for b in everything.batches] == [[1, 2, 3]]
    assert (everything.last, everything.ended) == (3, True)
    assert [[e.sequence for e in b] for b in outputs.batches] == [[2]]
    assert (outputs.last, outputs.ended) == (3, True)
    assert (none.batches, none.last, none.ended) == ([], 1, False)  # read past, sent nothing


def test_a_reply_s_batches_are_bounded_in_bytes_and_are_the_responses_bytes() -> None:
    events = [event(n, message="x" * 100) for n in range(1, 8)]
    size = len(framed(events[0]))

    reply = cut(events, (), framed, max_bytes=3 * size)

    assert [len(b) for b in reply.batches] == [3, 3, 1]
    for batch in reply.batches:
        expected = runner_pb2.WatchRunResponse(events=batch).SerializeToString()
        assert batch.wire == expected == Batch.of(batch).wire


async def test_watchers_at_one_position_share_one_reply_until_new_events_show() -> None:
    hub = EventHub()
    hub.publish("r", "w", [event(1), event(2)])

    first = hub.reply("r", 0, frozenset())
    assert first is not None and hub.reply("r", 0, frozenset()) is first
    assert hub.reply("r", 0, frozenset({E.EVENT_KIND_OUTPUT})) is not first
    assert [e.sequence for e in first.batches[0]] == [1, 2]
    up_to_date = hub.reply("r", 2, frozenset())
    assert up_to_date is not None and (up_to_date.batches, up_to_date.last) == ([], 2)

    hub.publish("r", "w", [event(3)])  # one watcher: shown at once
    again = hub.reply("r", 0, frozenset())
    assert again is not None and again is not first and again.last == 3


async def test_many_watchers_of_a_run_see_its_commits_together_at_a_pace() -> None:
    hub = EventHub()
    with hub.watching("r"), hub.watching("r"), hub.watching("r"):
        with clock_still():  # the three publishes fall within one pace
            hub.publish("r", "w", [event(1)])  # the first commit shows at once
            assert hub.recent("r", 0) == [event(1)]
            hub.publish("r", "w", [event(2)])
            hub.publish("r", "w", [event(3)])
            # Held back until the pace has passed, then shown together.
            assert hub.recent("r", 1) == []
        waited = asyncio.get_running_loop().time()
        await hub.wait("r", 1, stored_last_sequence=_never)
        waited = asyncio.get_running_loop().time() - waited

        assert hub.recent("r", 1) == [event(2), event(3)]
        assert waited <= 1.0  # a bound, not a measurement: the pace is 4 ms
        hub.publish("r", "w", [ending(4)])  # the end shows at once, whatever the pace
        assert hub.recent("r", 3) == [ending(4)]


async def test_a_commit_that_leaves_the_run_waiting_for_input_shows_at_once() -> None:
    hub = EventHub()
    waiting = event(4, E.EVENT_KIND_STATUS_CHANGED, status=E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS)
    with hub.watching("r"), hub.watching("r"), hub.watching("r"), clock_still():
        hub.publish("r", "w", [event(1)])  # the first commit shows at once
        hub.publish("r", "w", [event(2)])
        assert hub.recent("r", 1) == []  # held back: the pace has not passed
        # Whoever answers the request may be a watcher: it waits no pace.
        hub.publish("r", "w", [event(3, E.EVENT_KIND_REQUEST_INFO), waiting])
        assert [e.sequence for e in hub.recent("r", 1) or []] == [2, 3, 4]
        hub.publish("r", "w", [event(5)])  # the answer's commit: at the pace again
        assert hub.recent("r", 4) == []


async def test_a_run_waiting_for_timers_is_still_paced() -> None:
    # A run polling on short timers waits after every commit: not shown at once.
    hub = EventHub()
    waiting = event(3, E.EVENT_KIND_STATUS_CHANGED, status=E.RUN_STATUS_WAITING_FOR_TIMERS)
    with hub.watching("r"), hub.watching("r"), hub.watching("r"), clock_still():
        hub.publish("r", "w", [event(1)])  # the first commit shows at once
        hub.publish("r", "w", [event(2), waiting])
        assert hub.recent("r", 1) == []  # held back: the pace has not passed


async def test_watchers_read_a_run_s_end_from_its_tail_which_the_last_takes_along() -> None:
    hub = EventHub()
    with hub.watching("r"):
        with hub.watching("r"):
            hub.publish("r", "w", [event(1), ending(2)])
            reply = hub.reply("r", 0, frozenset())  # not each from the store
            assert reply is not None and (reply.last, reply.ended) == (2, True)
        assert hub.reply("r", 0, frozenset()) is reply
    assert hub.recent("r", 0) is None  # gone with the last watcher
    hub.publish("r2", "w", [ending(1)])
    assert hub.recent("r2", 0) is None  # nobody watched: gone at once


async def test_dashboards_are_woken_together_at_a_pace() -> None:
    hub = EventHub()
    first, second = hub.subscribe_all(), hub.subscribe_all()
    with clock_still():  # the two publishes fall within one pace
        hub.publish("r", "w", [event(1)])
        assert first.ready.is_set() and second.ready.is_set()
        first.ready.clear()
        second.ready.clear()

        hub.publish("r", "w", [event(2)])
        assert not first.ready.is_set() and not second.ready.is_set()
    await asyncio.gather(first.ready.wait(), second.ready.wait())

    assert [e.sequence for batch in first.buffer for e in batch] == [1, 2]


async def _never() -> int:
    raise AssertionError("the run's tail is held: the store is not asked")


async def test_a_namespace_s_watcher_is_sent_its_own_run_s_events_in_its_ids(
    harness: InProcessRunner,
) -> None:
    """The same run id in two namespaces, both live: each watcher's bytes
    are its own run's events (the other's never), with ids, not keys."""
    harness.host("svc", {"asker": Asker})
    default, team_a = Tenant(harness.runner, ""), Tenant(harness.runner, "team-a")
    for n, tenant in enumerate((default, team_a)):
        await tenant.register_workflow(asking())
        await tenant.start_run("ask", payloads.encode(n), "r1")
    for key in ("r1", "team-a/r1"):  # both wait for input, their tails held
        async for batch in harness.runner.watch(key):
            if any(e.status == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS for e in batch):
                break

    for n, tenant in enumerate((default, team_a)):
        sent: list[E.Event] = []
        async for batch in tenant.watch("r1"):
            sent += runner_pb2.WatchRunResponse.FromString(batch.wire).events
            assert list(runner_pb2.WatchRunResponse.FromString(batch.wire).events) == batch
            if any(e.status == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS for e in batch):
                break
        asked = [e for e in sent if e.kind == E.EVENT_KIND_REQUEST_INFO]
        assert {e.run_id for e in sent} == {"r1"}
        assert {e.workflow_id for e in sent} <= {"", "ask"}
        assert [payloads.json_value(e.request.data) for e in asked] == [n]


async def test_a_namespace_s_watchers_at_one_position_share_one_batch_in_its_ids(
    harness: InProcessRunner,
) -> None:
    """The copies of a run's events in a namespace's ids are made once for
    all its watchers at one position, not once for each."""
    harness.host("svc", {"asker": Asker})
    team_a = Tenant(harness.runner, "team-a")
    await team_a.register_workflow(asking())
    await team_a.start_run("ask", payloads.encode(1), "r1")
    async for batch in harness.runner.watch("team-a/r1"):  # it waits for input: tail held
        if any(e.status == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS for e in batch):
            break

    first, second = team_a.watch("r1"), team_a.watch("r1")
    mine, theirs = await anext(first), await anext(second)

    assert mine is theirs
    assert {e.run_id for e in mine} == {"r1"}
    assert list(runner_pb2.WatchRunResponse.FromString(mine.wire).events) == mine
    await first.aclose()  # type: ignore[attr-defined]
    await second.aclose()  # type: ignore[attr-defined]
