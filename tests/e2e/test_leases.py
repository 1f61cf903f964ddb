"""Several runners on one PostgreSQL database, real processes: each run is
driven by the runner holding its lease; when that runner dies or stops
renewing, another takes the run over at a new epoch, and a watcher on any
runner sees every event once (a runner with --max-runs 0 serves the API and
never drives a run)."""

from __future__ import annotations

import asyncio
import signal
import time

import grpc
import pytest

from stepline import RunnerClient
from stepline.v1 import events_pb2 as E
from stepline.v1 import runner_pb2, runner_pb2_grpc
from tests.executors.stages import Token
from tests.support.leased import LEASE, Runners, final
from tests.support.runners import executors_fixture, runners_fixture
from tests.support.runs import assert_exact_log, stage_loop, until_superstep

pytestmark = pytest.mark.asyncio(loop_scope="module")

STEPS = 40
TOKEN = Token(value=3, hops=0, limit=STEPS, delay_ms=20)


executors = executors_fixture("stages")
runners = runners_fixture(Runners)


async def watched(client: RunnerClient, run_id: str) -> list[E.Event]:
    return [event async for event in client.watch(run_id)]


async def test_a_dead_runners_run_is_taken_over_by_c_and_watched_from_b(
    runners: Runners, executors: str
) -> None:
    # B serves the API only: the takeover after A's death can only be C's.
    a, b = await runners.start(), await runners.start(LEASE, "--max-runs", "0")
    await a.register_workflow(stage_loop("leased", [executors, executors], STEPS + 10))
    # Started on B, driven by A (B leaves it at once, A claims it).
    reference = await b.run("leased", TOKEN)
    assert runners.stored(reference.run.run_id) == (2, runners.runner_id(0))
    expected = await final(b, reference)

    run = await a.start_run("leased", TOKEN)  # A creates it, so A holds its lease
    watch = asyncio.create_task(watched(b, run.run_id))  # B follows it live
    await until_superstep(b, run.run_id, 8)
    died = time.time()
    await runners.services[0].kill()  # SIGKILL
    c = await runners.start()

    result = await c.wait(run.run_id)
    events = await watch
    assert result.run.status == E.RUN_STATUS_COMPLETED
    # One takeover, C's: B never claimed the run (a claim raises the epoch).
    assert runners.stored(run.run_id) == (2, runners.runner_id(2))
    assert "taking it over" not in runners.log(1).read_text()
    assert_exact_log(events)  # B saw every event once, across A's death
    assert [e.sequence for e in events] == [e.sequence for e in result.events]
    assert await final(c, result) == expected
    (resumed,) = [e for e in events if e.kind == E.EVENT_KIND_RUN_RESUMED]
    first = next(
        e
        for e in events
        if e.kind == E.EVENT_KIND_SUPERSTEP_STARTED and e.sequence > resumed.sequence
    )
    gap = first.time.ToDatetime().timestamp() - died
    # How soon is for the benchmark to measure, not a test (C's start counts here).
    print(f"\ntakeover: first superstep {gap:.2f}s after the owner's death (lease {LEASE}s)")


async def test_a_paused_runner_is_fenced_out_when_it_wakes(
    runners: Runners, executors: str
) -> None:
    a, b = await runners.start(), await runners.start()
    await a.register_workflow(stage_loop("paused", [executors, executors], STEPS + 10))
    expected = await final(b, await b.run("paused", TOKEN))

    run = await a.start_run("paused", TOKEN)
    await until_superstep(b, run.run_id, 6)
    paused = runners.services[0].process
    paused.send_signal(signal.SIGSTOP)  # past its lease: B takes the run over
    try:
        await until_superstep(b, run.run_id, 20)
    finally:
        paused.send_signal(signal.SIGCONT)  # A wakes up mid-superstep, stale
    result = await b.wait(run.run_id)
    assert result.run.status == E.RUN_STATUS_COMPLETED
    assert result.run.epoch == 2
    assert_exact_log(result.events)
    assert await final(b, result) == expected  # nothing A did after waking took effect
    assert await a.get_run(run.run_id) == await b.get_run(run.run_id)  # any runner answers


async def test_a_runner_that_stops_cleanly_hands_its_runs_on_at_once(
    runners: Runners, executors: str
) -> None:
    long = 15.0  # far longer than the hand-over may take
    a, b = await runners.start(long), await runners.start(long)
    await a.register_workflow(stage_loop("handed", [executors, executors], STEPS + 10))
    run = await a.start_run("handed", TOKEN)
    await until_superstep(b, run.run_id, 4)
    began = time.monotonic()
    assert await runners.services[0].terminate() == 0  # SIGTERM: a clean stop
    result = await b.wait(run.run_id)
    took = time.monotonic() - began
    assert result.run.status == E.RUN_STATUS_COMPLETED
    assert result.run.epoch == 2
    assert_exact_log(result.events)
    print(f"\nhanded on and finished {took:.2f}s after SIGTERM (lease {long:g}s)")
    assert took < long * 2 / 3  # sooner than any lease could have run out


async def test_many_watchers_on_a_runner_that_does_not_drive_the_run_are_paced(
    runners: Runners, executors: str
) -> None:
    # Each hears of the run by news of A's commits and reads it from the
    # store: at the run's pace (min(N x 2 ms, 200 ms)), one read and one
    # response for all of them, not a response per commit each.
    steps, count = 200, 50
    a = await runners.start()
    b = await runners.start(LEASE, "--max-runs", "0")
    await a.register_workflow(stage_loop("paced", [executors, executors], steps + 10))
    run = await a.start_run("paced", Token(value=1, hops=0, limit=steps, delay_ms=0))
    request = runner_pb2.WatchRunRequest(run_id=run.run_id)
    async with grpc.aio.insecure_channel(runners.services[-1].address) as channel:
        stub = runner_pb2_grpc.RunnerServiceStub(channel)

        async def responses() -> list[list[int]]:
            return [[e.sequence for e in r.events] async for r in stub.WatchRun(request)]

        watched = await asyncio.gather(*(responses() for _ in range(count)))
    result = await b.wait(run.run_id)
    assert result.run.status == E.RUN_STATUS_COMPLETED
    sequences = [e.sequence for e in result.events]
    for replies in watched:
        assert [s for reply in replies for s in reply] == sequences  # each once, in order
    # Paced at 98 ms, a run of some 1-3 s is a few dozen responses a watcher;
    # unpaced, each had about one per commit (200 supersteps, 200 commits).
    most = max(len(replies) for replies in watched)
    assert most <= steps // 4, most
