"""Cancelling, changed graphs, forks and releasing executor objects."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from stepline import payloads
from stepline.testing import InProcessRunner, of_kind, outputs
from stepline.v1 import events_pb2 as E
from stepline.v1 import runner_pb2
from stepline_runner.engine.errors import FailedPrecondition, NotFound
from stepline_runner.store.base import READ_BYTES
from tests.unit.gated import Stepper, held, loop
from tests.unit.plateau import Plateau, plateau_loop


@pytest.fixture(autouse=True)
def gates() -> None:
    Stepper.reset()


async def cancelled_in_flight(harness: InProcessRunner) -> tuple[runner_pb2.Run, runner_pb2.Run]:
    """The loop started, then cancelled while its fourth superstep waits on the gate."""
    harness.host("svc", {"stepper": Stepper})
    await harness.runner.register_workflow(loop().build())
    run = await harness.runner.start_run("w", payloads.encode(0))
    await Stepper.entered.wait()
    return run, await harness.runner.cancel_run(run.run_id)


async def test_cancel_stops_an_in_flight_run_and_its_checkpoint_stays_resumable(
    harness: InProcessRunner,
) -> None:
    run, cancelled = await cancelled_in_flight(harness)

    assert cancelled.status == E.RUN_STATUS_CANCELLED
    assert cancelled.superstep == 3  # supersteps 1-3 done; 4 was in flight
    events = await harness.events(run.run_id)
    assert events[-1].status == E.RUN_STATUS_CANCELLED
    with pytest.raises(FailedPrecondition):
        await harness.runner.cancel_run(run.run_id)

    Stepper.release.set()
    await harness.runner.resume(cancelled.latest_checkpoint_id)
    rest = await harness.events(run.run_id, events[-1].sequence)
    assert outputs(rest) == [6]  # count 3 restored; steps 4, 5, 6
    assert rest[-1].status == E.RUN_STATUS_COMPLETED


async def test_a_resume_after_a_registration_of_another_graph_keeps_the_runs_own(
    harness: InProcessRunner,
) -> None:
    run, cancelled = await cancelled_in_flight(harness)
    changed = loop().add_executor("extra", "svc", type="stepper").add_edge("s", "extra")
    _, version = await harness.runner.register_workflow(changed.build())

    with pytest.raises(FailedPrecondition) as refused:
        await harness.runner.move_runs("w", version, [run.run_id], False)
    resumed = await harness.runner.resume(cancelled.latest_checkpoint_id)

    assert "only endpoints may change" in str(refused.value)
    assert (version, resumed.workflow_version) == (2, 1)
    assert resumed.graph_signature == run.graph_signature
    await harness.runner.cancel_run(run.run_id)


async def test_fork_from_an_older_checkpoint_leaves_the_original_alone(
    harness: InProcessRunner,
) -> None:
    Stepper.release.set()
    harness.host("svc", {"stepper": Stepper})
    await harness.runner.register_workflow(loop().build())
    run = await harness.runner.start_run("w", payloads.encode(0))
    original = await harness.events(run.run_id)
    checkpoints, _ = await harness.runner.list_checkpoints(run.run_id, 0, "")

    fork = await harness.runner.resume(checkpoints[2].checkpoint_id)
    forked = await harness.events(fork.run_id)

    assert fork.run_id != run.run_id and fork.parent_run_id == run.run_id
    assert fork.parent_checkpoint_id == checkpoints[2].checkpoint_id
    assert outputs(forked) == outputs(original) == [6]
    assert [e.sequence for e in forked] == list(range(1, len(forked) + 1))
    after = await harness.events(run.run_id)
    assert after == original
    with pytest.raises(FailedPrecondition):
        await harness.runner.resume(checkpoints[-1].checkpoint_id)  # completed
    with pytest.raises(NotFound):
        await harness.runner.resume("nope")


async def test_executor_objects_are_released_when_runs_end(harness: InProcessRunner) -> None:
    Stepper.release.set()
    host = harness.host("svc", {"stepper": Stepper})
    await harness.runner.register_workflow(loop().build())

    runs = await asyncio.gather(*(harness.run("w", 0) for _ in range(20)))

    assert all(outputs(events) == [6] for events in runs)
    assert all(of_kind(events, E.EVENT_KIND_RUN_FAILED) == [] for events in runs)
    assert host.object_count == 0


async def test_watch_after_the_end_waits_for_new_events(harness: InProcessRunner) -> None:
    harness.host("svc", {"stepper": Stepper})
    await harness.runner.register_workflow(loop().build())
    run = await harness.runner.start_run("w", payloads.encode(0))
    await held(harness, run.run_id)
    current = (await harness.get_run(run.run_id)).last_sequence
    beyond = current + 3

    watcher = asyncio.create_task(_collect(harness, run.run_id, beyond))
    Stepper.release.set()
    events = await watcher

    assert events[0].sequence == beyond + 1
    assert events[-1].status == E.RUN_STATUS_COMPLETED


async def _collect(harness: InProcessRunner, run_id: str, after: int) -> list[E.Event]:
    return await harness.events(run_id, after)


async def test_a_watcher_whose_read_races_the_final_commit_still_ends(
    harness: InProcessRunner,
) -> None:
    """The run ends while the watcher's store read is in flight (the read sees
    nothing new); the watcher must not then wait for ever."""
    harness.host("svc", {"stepper": Stepper})
    await harness.runner.register_workflow(loop().build())
    run = await harness.runner.start_run("w", payloads.encode(0))
    await held(harness, run.run_id)
    store, hub = harness.runner.store, harness.runner.hub
    ended = asyncio.Event()
    publish, page_events = hub.publish, store.page_events

    def spy_publish(run_id: str, workflow_id: str, events: list[E.Event]) -> None:
        publish(run_id, workflow_id, events)
        if events and events[-1].status == E.RUN_STATUS_COMPLETED:
            ended.set()

    async def stale_read(
        run_id: str,
        after_sequence: int,
        limit: int,
        max_bytes: int = READ_BYTES,
        incarnation: int | None = None,
    ) -> tuple[list[E.Event], bool]:
        events, more = await page_events(run_id, after_sequence, limit, max_bytes, incarnation)
        if not events and not ended.is_set():
            Stepper.release.set()  # let the run finish while this read is "in flight"
            await ended.wait()
        return events, more

    hub._runs.pop(run.run_id)  # as after a runner restart: the watcher must read the store
    hub.publish = spy_publish  # type: ignore[method-assign]
    store.page_events = stale_read  # type: ignore[method-assign]
    last = (await harness.get_run(run.run_id)).last_sequence

    async with asyncio.timeout(10):
        events = await _collect(harness, run.run_id, last)

    assert events[-1].status == E.RUN_STATUS_COMPLETED


async def test_a_fork_keeps_its_states_when_the_source_checkpoint_goes(
    harness: InProcessRunner,
) -> None:
    harness.host("svc", {"plateau": Plateau})
    await harness.runner.register_workflow(plateau_loop())
    events = await harness.run("w", 0)
    checkpoints, _ = await harness.runner.list_checkpoints(events[0].run_id, 0, "")
    source = checkpoints[2]  # level 1: the only checkpoint holding that state
    restore = harness.runner.runs.restore

    async def restore_while_deleted(*args: Any) -> Mapping[str, str]:
        await harness.runner.delete_checkpoint(source.checkpoint_id)  # meanwhile
        return await restore(*args)

    harness.runner.runs.restore = restore_while_deleted  # type: ignore[method-assign, assignment]
    fork = await harness.runner.resume(source.checkpoint_id, fork=True)
    harness.runner.runs.restore = restore  # type: ignore[method-assign]
    await harness.events(fork.run_id)

    first = (await harness.runner.list_checkpoints(fork.run_id, 0, ""))[0][0]
    content = (await harness.runner.get_checkpoint(first.checkpoint_id, True)).content
    assert payloads.json_value(content.executor_states["p"]) == {"level": 1}


async def test_a_new_run_id_always_forks(harness: InProcessRunner) -> None:
    harness.host("svc", {"plateau": Plateau})
    await harness.runner.register_workflow(plateau_loop(policy=None))
    events = await harness.run("w", 0)
    run = await harness.get_run(events[0].run_id)
    checkpoints, _ = await harness.runner.list_checkpoints(run.run_id, 0, "")

    fork = await harness.runner.resume(checkpoints[4].checkpoint_id, new_run_id="my-fork")

    assert fork.run_id == "my-fork" and fork.parent_run_id == run.run_id


async def test_a_cancel_that_meets_the_final_commit_lets_it_land_first(
    harness: InProcessRunner,
) -> None:
    harness.host("svc", {"plateau": Plateau})
    await harness.runner.register_workflow(plateau_loop())
    store, runs = harness.runner.store, harness.runner.runs
    commit, stop = store.commit, runs.stop
    at_commit, stopping, gate = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def slow_final_commit(run_id: str, update: Any, *args: Any) -> Any:
        if update.status == E.RUN_STATUS_COMPLETED:
            at_commit.set()
            await gate.wait()
        return await commit(run_id, update, *args)

    async def noticed_stop(run_id: str) -> None:
        stopping.set()
        await stop(run_id)

    store.commit = slow_final_commit  # type: ignore[method-assign, assignment]
    runs.stop = noticed_stop  # type: ignore[method-assign]
    run = await harness.runner.start_run("w", payloads.encode(0))
    await at_commit.wait()
    cancel = asyncio.create_task(harness.runner.cancel_run(run.run_id))
    await stopping.wait()
    gate.set()
    ended = await cancel

    assert ended.status == E.RUN_STATUS_COMPLETED
    statuses = [
        e.status for e in of_kind(await harness.events(run.run_id), E.EVENT_KIND_STATUS_CHANGED)
    ]
    assert statuses == [E.RUN_STATUS_RUNNING, E.RUN_STATUS_COMPLETED]
