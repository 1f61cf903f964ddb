"""The runner's process collects cycles less often, start-up's objects frozen
out of every collection (collector.py), before any run exists; put back after
the test."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from stepline import WorkflowBuilder, payloads
from stepline.executor import Executor, WorkflowContext, handler
from stepline.serve import serve_executors
from stepline.v1 import events_pb2 as E
from stepline_runner import cli
from stepline_runner.api.server import start_runner
from stepline_runner.collector import YOUNG_THRESHOLD, tune_collector


@pytest.fixture
def restored() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_the_collector_is_tuned_once_the_runner_is_up(restored: None) -> None:
    made_at_start_up = [[n] for n in range(1000)]  # containers the collector tracks
    default = gc.get_threshold()

    tune_collector()

    assert gc.get_threshold() == (YOUNG_THRESHOLD, default[1], default[2])
    assert gc.get_freeze_count() >= len(made_at_start_up)
    collected = {id(x) for x in gc.get_objects()}  # what later collections look at
    assert not any(id(x) in collected for x in made_at_start_up)


class Held(Executor):
    """Yields its input once the test sets `release`."""

    release: ClassVar[asyncio.Event]

    @handler
    async def hold(self, value: str, ctx: WorkflowContext) -> None:
        await Held.release.wait()
        await ctx.yield_output(value)


def frozen(thing: object) -> bool:
    """Out of every later collection: no longer among the collector's objects."""
    return not any(o is thing for o in gc.get_objects())


async def test_a_run_recovered_at_start_up_is_not_frozen(restored: None, tmp_path: Path) -> None:
    """The runner's start-up freezes before it recovers the runs that were
    going when it stopped: their objects stay collectable (a cycle of a run
    frozen would never be freed)."""
    Held.release = asyncio.Event()
    executors = await serve_executors({"held": Held})
    db = tmp_path / "stepline.db"
    try:
        first = await start_runner(db)
        await first.runner.register_workflow(
            WorkflowBuilder("w")
            .add_executor("h", f"127.0.0.1:{executors.port}", type="held")
            .set_start_executor("h")
            .build()
        )
        run = await first.runner.start_run("w", payloads.encode("x"))
        await first.stop()  # the run is left going, to be recovered

        server = await cli.start(str(db), "127.0.0.1", 0, {})  # as the command does
        try:
            (recovering,) = [t for t in asyncio.all_tasks() if t.get_name().endswith(run.run_id)]
            assert gc.get_threshold()[0] == YOUNG_THRESHOLD and gc.get_freeze_count() > 0
            assert not frozen(recovering) and not frozen(recovering.get_coro())
            Held.release.set()
            async for _ in server.runner.watch(run.run_id):  # to the run's end
                pass
            assert (await server.runner.get_run(run.run_id)).status == E.RUN_STATUS_COMPLETED
        finally:
            await server.stop()
    finally:
        await executors.stop()
