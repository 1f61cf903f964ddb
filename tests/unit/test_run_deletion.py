"""DeleteRun and finished-run retention in the engine: what goes, what stays
(blobs a fork shares), what is refused (runs that have not ended)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from stepline import payloads
from stepline.v1 import events_pb2 as E
from stepline_runner.engine import watch as watching
from stepline_runner.engine.errors import FailedPrecondition, InvalidArgument, NotFound
from stepline_runner.engine.retention import Retention, delete_finished
from tests.support.runs import self_loop
from tests.support.stores import every_state_a_blob, harness_on_both_stores, rows, state_copies
from tests.unit.asker import Asker, asking
from tests.unit.conftest import Harness
from tests.unit.countdown import Counter
from tests.unit.gated import Stepper, loop


@pytest.fixture
async def counting(harness: Harness) -> Harness:
    harness.host("svc", {"counter": Counter, "stepper": Stepper, "asker": Asker})
    await harness.runner.register_workflow(self_loop("count", "c", "counter").build())
    return harness


# Every test here runs on SQLite and PostgreSQL.
__all__ = ["every_state_a_blob", "harness_on_both_stores"]


def table_counts(db: str | Path) -> dict[str, int]:
    return {
        t: rows(db, f"SELECT count(*) FROM {t}")[0][0]
        for t in ("runs", "events", "checkpoints", "checkpoint_states", "blobs")
    }


async def finished(harness: Harness, value: int, run_id: str) -> str:
    await harness.run("count", value, run_id)
    return run_id


@pytest.mark.usefixtures("every_state_a_blob")
async def test_deleting_a_run_removes_its_events_checkpoints_and_blobs(
    counting: Harness, store_location: str | Path
) -> None:
    db = store_location
    await finished(counting, 3, "keep")
    before = table_counts(db)
    run_id = await finished(counting, 3, "gone")
    run = await counting.get_run(run_id)

    deleted = await counting.runner.delete_run(run_id)

    assert deleted.events == run.last_sequence
    assert deleted.checkpoints == 5  # supersteps 0..4
    # States [3], [3, 2]... [3, 2, 1, 0]: the run "keep" stored the same ones.
    assert deleted.blobs == 0
    assert table_counts(db) == before
    with pytest.raises(NotFound):
        await counting.get_run(run_id)
    with pytest.raises(NotFound):
        await counting.runner.get_checkpoint(run.latest_checkpoint_id, False)
    with pytest.raises(NotFound):
        await counting.runner.delete_run(run_id)

    await counting.runner.delete_run("keep")
    assert table_counts(db) == dict.fromkeys(before, 0)


@pytest.mark.usefixtures("every_state_a_blob")
async def test_a_fork_keeps_the_blobs_it_shares_with_a_deleted_run(counting: Harness) -> None:
    source = await finished(counting, 4, "source")
    checkpoints, _ = await counting.runner.list_checkpoints(source, 0, "")
    fork = await counting.runner.resume(checkpoints[2].checkpoint_id, fork=True)
    await counting.events(fork.run_id)
    fork_checkpoints, _ = await counting.runner.list_checkpoints(fork.run_id, 0, "")

    async def states(run_checkpoints: list[Any]) -> set[bytes]:
        loaded = [
            await counting.runner.get_checkpoint(c.checkpoint_id, True) for c in run_checkpoints
        ]
        return {s.data for c in loaded for s in c.content.executor_states.values()}

    only_source = await states(checkpoints) - await states(fork_checkpoints)
    assert only_source  # the states before the fork point

    deleted = await counting.runner.delete_run(source)

    assert deleted.blobs == len(only_source)
    for checkpoint in fork_checkpoints:
        full = await counting.runner.get_checkpoint(checkpoint.checkpoint_id, True)
        assert payloads.json_value(full.content.executor_states["c"])["seen"][:2] == [4, 3]
    assert (await counting.get_run(fork.run_id)).status == E.RUN_STATUS_COMPLETED


async def test_small_states_are_each_runs_own_and_go_with_it(
    counting: Harness, store_location: str | Path
) -> None:
    """Small states kept in their references (SQLite; PostgreSQL keeps them as
    blobs): a fork has its own copies, deleting the source leaves them whole."""
    db = store_location
    source = await finished(counting, 4, "source")
    checkpoints, _ = await counting.runner.list_checkpoints(source, 0, "")
    fork = await counting.runner.resume(checkpoints[2].checkpoint_id, fork=True)
    await counting.events(fork.run_id)
    before = state_copies(db)
    mine = rows(db, "SELECT count(*) FROM checkpoint_states WHERE run_id = 'source'")[0][0]

    deleted = await counting.runner.delete_run(source)

    assert mine == 5  # [4], [4, 3] ... [4, 3, 2, 1, 0]
    if isinstance(db, Path):
        assert deleted.blobs == mine and state_copies(db) == before - mine
        assert rows(db, "SELECT count(*) FROM blobs") == [(0,)]
    else:
        assert deleted.blobs == 1  # [4]: the fork stored the same states from [4, 3] on
    fork_checkpoints, _ = await counting.runner.list_checkpoints(fork.run_id, 0, "")
    for checkpoint in fork_checkpoints:
        full = await counting.runner.get_checkpoint(checkpoint.checkpoint_id, True)
        assert payloads.json_value(full.content.executor_states["c"])["seen"][:2] == [4, 3]


async def test_a_run_that_has_not_ended_is_not_deleted(counting: Harness) -> None:
    await counting.runner.register_workflow(loop("held").build())
    Stepper.reset()
    held = await counting.runner.start_run("held", payloads.encode(1))
    await Stepper.entered.wait()
    with pytest.raises(FailedPrecondition, match=r"RUN_STATUS_RUNNING.*cancel it, then delete it"):
        await counting.runner.delete_run(held.run_id)
    assert (await counting.get_run(held.run_id)).status == E.RUN_STATUS_RUNNING

    await counting.runner.register_workflow(asking())
    waiting = await counting.runner.start_run("ask", payloads.encode(1))
    async for batch in counting.runner.watch(waiting.run_id, follow_after_end=True):
        if any(e.status == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS for e in batch):
            break
    with pytest.raises(FailedPrecondition, match="IDLE_WITH_PENDING_REQUESTS"):
        await counting.runner.delete_run(waiting.run_id)

    await counting.runner.cancel_run(held.run_id)
    Stepper.release.set()
    assert (await counting.runner.delete_run(held.run_id)).checkpoints >= 1


async def test_bad_run_ids_are_refused_with_bounded_messages(counting: Harness) -> None:
    with pytest.raises(InvalidArgument, match="run_id is required"):
        await counting.runner.delete_run("")
    with pytest.raises(NotFound) as caught:
        await counting.runner.delete_run("x" * 100_000)
    assert len(str(caught.value)) < 200


async def test_a_watcher_reading_a_deleted_run_gets_not_found(
    counting: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watching, "READ_BATCH", 100)
    run_id = await finished(counting, 150, "long")  # more events than one read batch
    watch = counting.runner.watch(run_id)
    first = await anext(watch)
    assert first[-1].sequence < (await counting.get_run(run_id)).last_sequence

    await counting.runner.delete_run(run_id)

    with pytest.raises(NotFound, match="deleted"):
        async with asyncio.timeout(10):
            await anext(watch)
    assert counting.runner.hub.recent(run_id, 0) is None  # nothing kept of it
    assert run_id not in counting.runner.hub._runs


async def test_retention_deletes_only_runs_that_ended_before_the_age(counting: Harness) -> None:
    old = await finished(counting, 1, "old")
    ended = (await counting.get_run(old)).updated_at.ToNanoseconds() / 1e9
    await counting.runner.register_workflow(asking())
    waiting = await counting.runner.start_run("ask", payloads.encode(1), "waiting")
    async for batch in counting.runner.watch(waiting.run_id, follow_after_end=True):
        if any(e.status == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS for e in batch):
            break

    # An hour after "old" ended, with a day's age: nothing goes.
    assert await delete_finished(counting.runner, 86400, ended + 3600) == []
    # A day and a second after: "old" goes; the waiting run, however old, stays.
    retention = Retention(counting.runner, 86400, clock=lambda: ended + 86401)
    assert await retention.sweep() == ["old"]
    assert (await counting.get_run("waiting")).status == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS
    assert retention.interval == 300.0
    with pytest.raises(ValueError):
        Retention(counting.runner, 0)
