"""Reading a run's events from the store, as a watcher catching up does: at
most so many events and about so many bytes per read, never none; a page
says whether the store holds more after it (a watcher waits for news only
then)."""

from __future__ import annotations

from pathlib import Path

from stepline.v1 import events_pb2 as E
from stepline.v1 import runner_pb2
from stepline_runner.engine import events as ev
from stepline_runner.engine.graph import Graph
from stepline_runner.engine.state import RunState
from stepline_runner.store import RunUpdate, Store
from tests.support.stores import rows
from tests.unit.graph_of_three import definition
from tests.unit.test_relay import created

MIB = 1024 * 1024


async def _ten_of_a_mebibyte(store: Store) -> None:
    """Run r with 10 events of 1 MiB each."""
    state = RunState("r", Graph.compile(definition()), superstep=0, checkpoint_id="")
    run = runner_pb2.Run(run_id="r", workflow_id="w", status=E.RUN_STATUS_RUNNING)
    await store.create_run(run, "", state.checkpoint(parent_checkpoint_id=""), [])
    big = [ev.event(E.EVENT_KIND_CUSTOM, name="big", message="x" * MIB) for _ in range(10)]
    await store.commit("r", RunUpdate(E.RUN_STATUS_RUNNING, 0), big)


async def test_reads_are_bounded_in_bytes_and_always_make_progress(store: Store) -> None:
    await _ten_of_a_mebibyte(store)

    first = await store.read_events("r", 0, 256, max_bytes=3 * MIB)
    alone = await store.read_events("r", 0, 256, max_bytes=10)
    default = await store.read_events("r", 0, 256)
    counted = await store.read_events("r", 0, 2)

    assert [e.sequence for e in first] == [1, 2]  # a third would pass 3 MiB
    assert [e.sequence for e in alone] == [1]  # one, however large
    assert [e.sequence for e in default] == [1, 2, 3]  # 4 MiB by default
    assert [e.sequence for e in counted] == [1, 2]
    assert await store.read_events("r", 10, 256) == []


async def test_a_page_says_whether_more_events_follow_it(store: Store) -> None:
    await _ten_of_a_mebibyte(store)

    def seen(page: tuple[list[E.Event], bool]) -> tuple[list[int], bool]:
        return [e.sequence for e in page[0]], page[1]

    assert seen(await store.page_events("r", 0, 256, max_bytes=3 * MIB)) == ([1, 2], True)
    assert seen(await store.page_events("r", 0, 2)) == ([1, 2], True)
    assert seen(await store.page_events("r", 7, 3)) == ([8, 9, 10], False)  # the limit, no more
    assert seen(await store.page_events("r", 8, 256)) == ([9, 10], False)
    assert seen(await store.page_events("r", 10, 256)) == ([], False)


async def test_a_read_of_a_run_made_again_under_its_id_finds_none_of_the_new_one(
    store: Store, store_location: str | Path
) -> None:
    """`incarnation` (the row's seq): a follower's read between a run's row and
    its events never hands on another run's events under the same id."""
    await created(store, "r")
    ((old,),) = rows(store_location, "SELECT seq FROM runs WHERE run_id = 'r'")
    await store.delete_run("r")
    await created(store, "r")
    await store.commit("r", RunUpdate(E.RUN_STATUS_RUNNING, 0), [ev.event(E.EVENT_KIND_CUSTOM)])
    ((new,),) = rows(store_location, "SELECT seq FROM runs WHERE run_id = 'r'")

    assert await store.page_events("r", 0, 10, incarnation=old) == ([], False)
    events, more = await store.page_events("r", 0, 10, incarnation=new)
    assert ([e.sequence for e in events], more) == ([1, 2], False)
