"""A superstep's commit goes on while the next superstep's Execute calls are
under way (RunCommits.begin). A commit that fails meanwhile stops the run
before any other executor call, as if it had failed before them, and the run
stays as of its last stored checkpoint; a stop (or its caller's cancel) lets
it land and be published; a resume restores the executors, whose state ran
ahead of the store."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from stepline import payloads
from stepline.executor import WorkflowContext, handler, response_handler
from stepline.testing import InProcessRunner, outputs
from stepline.v1 import events_pb2 as E
from stepline_runner.engine.errors import Reason, StoreUnavailable, Unavailable
from tests.support.runs import assert_exact_log
from tests.unit.gated import Stepper, loop

# What the commit of superstep 2's checkpoint does once superstep 3's
# Execute is under way, before it goes to the store.
Meanwhile = Callable[[str], Awaitable[None]]


def hold_commit_of_superstep_2(harness: InProcessRunner, meanwhile: Meanwhile) -> asyncio.Event:
    """Superstep 2's commit waits for superstep 3's Execute (held in Stepper:
    were the commit awaited before that call, it would never come), then
    `meanwhile`, then goes to the store; the event is set once it ended.
    Once: a re-run of superstep 2 commits as any other."""
    commit = harness.store.commit
    ended = asyncio.Event()

    async def held(run_id: str, update: Any, events: Any, checkpoint: Any, *rest: Any) -> Any:
        if ended.is_set() or checkpoint is None or checkpoint.superstep != 2:
            return await commit(run_id, update, events, checkpoint, *rest)
        await asyncio.wait_for(Stepper.entered.wait(), 5)  # superstep 3 runs meanwhile
        try:
            await meanwhile(run_id)
            return await commit(run_id, update, events, checkpoint, *rest)
        finally:
            ended.set()

    harness.store.commit = held  # type: ignore[method-assign, assignment]
    return ended


def hold_commit_until_released(harness: InProcessRunner) -> tuple[asyncio.Event, asyncio.Event]:
    """Superstep 2's commit held (as above) until the first event is set;
    the second is set once it ended."""
    release = asyncio.Event()

    async def held(run_id: str) -> None:
        await release.wait()

    return release, hold_commit_of_superstep_2(harness, held)


async def cancel_given_up(harness: InProcessRunner, run_id: str, task: asyncio.Task[None]) -> None:
    """A CancelRun whose client gives up once the driver stopped, while the
    commit under way is held (grpc.aio cancels the handler)."""
    await Stepper.entered.wait()
    cancelling = asyncio.ensure_future(harness.runner.cancel_run(run_id))
    await asyncio.wait([task])
    cancelling.cancel()
    await asyncio.wait([cancelling])


async def started(
    harness: InProcessRunner, stepper: type[Stepper] = Stepper
) -> tuple[str, asyncio.Task[None]]:
    Stepper.reset()
    harness.host("svc", {"stepper": stepper})
    await harness.runner.register_workflow(loop().build())
    run = await harness.runner.start_run("w", payloads.encode(1))
    task = harness.runner.runs.task(run.run_id)
    assert task is not None
    return run.run_id, task


async def to_its_end(harness: InProcessRunner, run_id: str) -> None:
    async for _ in harness.runner.watch(run_id):
        pass


async def resumed_to_its_end(harness: InProcessRunner, run_id: str) -> list[E.Event]:
    stored = await harness.store.get_run(run_id)
    assert stored is not None
    await harness.runner.resume(stored.latest_checkpoint_id)
    task = harness.runner.runs.task(run_id)
    assert task is not None
    await task
    done = await harness.store.get_run(run_id)
    assert done is not None and done.status == E.RUN_STATUS_COMPLETED
    return await harness.store.read_events(run_id, 0, 1000)


async def test_a_commit_refused_while_the_next_superstep_runs_stops_the_run_first(
    harness: InProcessRunner,
) -> None:
    async def taken_over(run_id: str) -> None:
        await harness.store.claim_run(run_id)  # another runner took the run over

    ended = hold_commit_of_superstep_2(harness, taken_over)
    run_id, task = await started(harness)
    await ended.wait()  # refused (StaleEpoch), superstep 3's Execute still under way
    calls = list(harness.executors.calls)
    Stepper.release.set()
    await task

    # No call after the refusal: no save, no retry, no EndRun (the run is the
    # new owner's), and superstep 3's outcome was dropped.
    assert harness.executors.calls == calls
    assert calls.count(("svc", "Execute")) == 3
    after = await harness.store.get_run(run_id)
    assert after is not None
    assert (after.status, after.superstep, after.epoch) == (E.RUN_STATUS_RUNNING, 1, 2)
    # Resumed from superstep 1's checkpoint: the executor, which counted up to
    # 3 meanwhile, is restored to 1 first, so the count is the right one.
    events = await resumed_to_its_end(harness, run_id)
    assert outputs(events) == [5]
    assert_exact_log(events)


async def test_a_commit_failing_while_the_next_superstep_runs_pauses_the_run_and_it_resumes(
    harness: InProcessRunner,
) -> None:
    async def away(run_id: str) -> None:
        raise StoreUnavailable("the disk went away")

    ended = hold_commit_of_superstep_2(harness, away)
    run_id, task = await started(harness)
    await ended.wait()
    calls = len(harness.executors.calls)
    Stepper.release.set()
    await task  # paused: resumed later (after a backoff) from what the store holds
    await asyncio.wait_for(to_its_end(harness, run_id), 10)

    # The first call after the failure is the resume's restore.
    methods = [m for _, m in harness.executors.calls[calls:] if m != "Describe"]
    assert methods[0] == "RestoreCheckpoint"
    events = await harness.store.read_events(run_id, 0, 1000)
    assert outputs(events) == [5]
    assert_exact_log(events)


async def test_a_cancel_during_the_overlap_lets_the_commit_land_first(
    harness: InProcessRunner,
) -> None:
    release, ended = hold_commit_until_released(harness)
    run_id, task = await started(harness)
    await Stepper.entered.wait()
    cancelling = asyncio.ensure_future(harness.runner.cancel_run(run_id))
    await asyncio.wait([task])  # the driver is stopped, superstep 3's Execute with it
    calls = list(harness.executors.calls)
    release.set()
    cancelled = await cancelling

    assert ended.is_set()
    assert (cancelled.status, cancelled.superstep) == (E.RUN_STATUS_CANCELLED, 2)
    # Nothing ran after the stop; the cancel's EndRun only.
    assert harness.executors.calls == [*calls, ("svc", "EndRun")]
    events = await harness.store.read_events(run_id, 0, 1000)
    kinds = [(e.kind, e.superstep) for e in events]
    completed = kinds.index((E.EVENT_KIND_SUPERSTEP_COMPLETED, 2))
    assert kinds[completed + 1 :] == [(E.EVENT_KIND_STATUS_CHANGED, 2)]  # CANCELLED, last


async def test_a_cancelled_canceller_does_not_cancel_the_commit_under_way(
    harness: InProcessRunner,
) -> None:
    # A CancelRun whose client gives up (grpc.aio cancels the handler) while
    # the driver's last commit is held: it lands, and is published (review M1).
    release, ended = hold_commit_until_released(harness)
    run_id, task = await started(harness)
    seen: list[E.Event] = []

    async def watch() -> None:
        async for batch in harness.runner.watch(run_id):
            seen.extend(batch)

    watcher = asyncio.ensure_future(watch())
    await cancel_given_up(harness, run_id, task)
    asked_again = asyncio.ensure_future(harness.runner.cancel_run(run_id))  # joins that one
    release.set()
    await ended.wait()
    cancelled = await asked_again
    await asyncio.wait_for(watcher, 5)  # the watch ends with the run

    assert (cancelled.status, cancelled.superstep) == (E.RUN_STATUS_CANCELLED, 2)
    stored = await harness.store.read_events(run_id, 0, 1000)
    assert [e.sequence for e in seen] == [e.sequence for e in stored]
    assert (E.EVENT_KIND_SUPERSTEP_COMPLETED, 2) in [(e.kind, e.superstep) for e in seen]


async def test_a_cancel_asked_again_while_a_cancelled_cancels_commit_lands_waits_for_it(
    harness: InProcessRunner,
) -> None:
    # The first CancelRun's client gives up while the driver's last commit is
    # held, and the second comes before that commit lands. Were the stop the
    # first handler's own, cancelled with it, the second would find no driver,
    # raise the run's epoch and so make the commit under way stale.
    release, ended = hold_commit_until_released(harness)
    run_id, task = await started(harness)
    claim = harness.store.claim_run
    claimed_before_the_commit: list[bool] = []

    async def noted_claim(run_id: str) -> int:
        claimed_before_the_commit.append(not ended.is_set())
        return await claim(run_id)

    await cancel_given_up(harness, run_id, task)
    harness.store.claim_run = noted_claim  # type: ignore[method-assign]
    second = asyncio.ensure_future(harness.runner.cancel_run(run_id))
    release.set()
    cancelled = await second

    assert claimed_before_the_commit == [False]
    assert (cancelled.status, cancelled.superstep) == (E.RUN_STATUS_CANCELLED, 2)
    events = await harness.store.read_events(run_id, 0, 1000)
    kinds = [(e.kind, e.superstep) for e in events]
    assert kinds[-2:] == [(E.EVENT_KIND_SUPERSTEP_COMPLETED, 2), (E.EVENT_KIND_STATUS_CHANGED, 2)]


async def test_a_commit_failing_for_a_bug_fails_the_run_at_its_last_durable_superstep(
    harness: InProcessRunner,
) -> None:
    # Not the store's refusal: a bug in making the commit, which never reached
    # the store. The run fails as of what the store holds, and resumes from it.
    async def bug(run_id: str) -> None:
        raise RuntimeError("a bug making the commit")

    ended = hold_commit_of_superstep_2(harness, bug)
    run_id, task = await started(harness)
    await ended.wait()
    Stepper.release.set()
    await task

    failed = await harness.store.get_run(run_id)
    assert failed is not None
    assert (failed.status, failed.superstep, failed.error.type) == (
        E.RUN_STATUS_FAILED,
        1,
        "InternalError",
    )
    latest = await harness.store.get_checkpoint(failed.latest_checkpoint_id, False)
    assert latest is not None and latest.superstep == 1
    events = await resumed_to_its_end(harness, run_id)
    assert outputs(events) == [5]
    assert_exact_log(events)


async def test_a_commit_stored_but_not_published_goes_on_and_its_watchers_miss_nothing(
    harness: InProcessRunner,
) -> None:
    # A bug in telling watchers of superstep 2's commit, which the store holds:
    # the run goes on from there (not failed a superstep behind its store),
    # and its watchers read what they missed from the store.
    hub = harness.runner.hub
    publish = hub.publish
    broke: list[int] = []

    def breaks_once(run_id: str, workflow_id: str, events: list[E.Event]) -> None:
        if not broke and any(
            e.kind == E.EVENT_KIND_SUPERSTEP_COMPLETED and e.superstep == 2 for e in events
        ):
            broke.append(events[-1].sequence)
            raise RuntimeError("a bug publishing the commit")
        publish(run_id, workflow_id, events)

    hub.publish = breaks_once  # type: ignore[method-assign]
    run_id, task = await started(harness)
    seen: list[E.Event] = []

    async def watch() -> None:
        async for batch in harness.runner.watch(run_id):
            seen.extend(batch)

    watcher = asyncio.ensure_future(watch())
    await Stepper.entered.wait()
    Stepper.release.set()
    await task
    await asyncio.wait_for(watcher, 5)

    assert broke
    done = await harness.store.get_run(run_id)
    assert done is not None and done.status == E.RUN_STATUS_COMPLETED
    stored = await harness.store.read_events(run_id, 0, 1000)
    assert outputs(stored) == [5]
    assert_exact_log(stored)
    assert [e.sequence for e in seen] == [e.sequence for e in stored]


class AskingStepper(Stepper):
    """Stepper that also asks for input in superstep 2."""

    @handler
    async def step(self, n: int, ctx: WorkflowContext) -> None:
        if n == 2:
            await ctx.request_info(n, int, request_id="asked-in-2")
        await super().step(n, ctx)

    @response_handler
    async def answered(self, request: int, answer: int, ctx: WorkflowContext) -> None:
        await ctx.yield_output(answer)


async def test_a_request_for_input_is_listed_once_its_superstep_is_committed(
    harness: InProcessRunner,
) -> None:
    # What a caller is shown is what the store holds: a request of superstep 2
    # is not open before superstep 2's commit (under way during superstep 3) landed.
    release = asyncio.Event()
    listed: list[list[str]] = []

    async def listing(run_id: str) -> None:
        listed.append([r.request_id for r in await harness.runner.pending_requests(run_id)])
        await release.wait()

    ended = hold_commit_of_superstep_2(harness, listing)
    run_id, task = await started(harness, AskingStepper)
    await Stepper.entered.wait()
    release.set()
    await ended.wait()
    listed.append([r.request_id for r in await harness.runner.pending_requests(run_id)])
    Stepper.release.set()
    await task

    assert listed == [[], ["asked-in-2"]]
    waiting = await harness.store.get_run(run_id)
    assert waiting is not None and waiting.status == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS
    assert [r.request_id for r in await harness.runner.pending_requests(run_id)] == ["asked-in-2"]


async def test_a_cancel_whose_client_gave_up_goes_on_to_its_end(harness: InProcessRunner) -> None:
    # The client gives up while the stop waits for the commit under way. Stopped
    # yet stored RUNNING, the run would be driven again (a restart, a runner
    # taking its lease over): the cancel goes on, and until it ended the run
    # counts as driven here (its lease renewed).
    release, ended = hold_commit_until_released(harness)
    run_id, task = await started(harness)
    await cancel_given_up(harness, run_id, task)
    assert run_id in harness.runner.runs.active_ids()
    release.set()
    await ended.wait()
    async with harness.runner.runs.lock(run_id):  # the cancel under way holds it to its end
        stored = await harness.store.get_run(run_id)

    assert stored is not None
    assert (stored.status, stored.superstep) == (E.RUN_STATUS_CANCELLED, 2)
    assert not harness.runner.runs.is_active(run_id)


async def test_closing_the_runner_waits_for_a_cancel_whose_client_gave_up(
    harness: InProcessRunner,
) -> None:
    # The cancel is past the part the runner's close waits for (the stop, the
    # commit under way) but not yet stored: closed before it was, the store
    # would close under it, the cancel lost, the run driven again on restart.
    release, ended = hold_commit_until_released(harness)
    run_id, task = await started(harness)
    await cancel_given_up(harness, run_id, task)
    closing = asyncio.ensure_future(harness.runner.close())
    release.set()
    await ended.wait()
    await closing
    stored = await harness.store.get_run(run_id)
    with pytest.raises(Unavailable) as refused:  # none is left behind by a close
        await harness.runner.cancel_run(run_id)

    assert stored is not None
    assert (stored.status, stored.superstep) == (E.RUN_STATUS_CANCELLED, 2)
    assert refused.value.reason == Reason.SHUTTING_DOWN
