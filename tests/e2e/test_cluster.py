"""Several runners on one PostgreSQL database, real processes: new runs
spread over the live runners whichever one the clients call, and WatchRuns
on any runner shows every run's events, also of a run that moves to
another runner while watched, and of a run made again under the id of one
deleted while that runner was not listening."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import Callable

import pytest

from stepline import RunnerClient
from stepline.v1 import events_pb2 as E
from tests.executors.stages import Token
from tests.support.runners import Runners, executors_fixture, runners_fixture
from tests.support.runs import assert_exact_log, of_kind, stage_loop, until_superstep
from tests.support.stores import rows
from tests.support.waiting import until

pytestmark = pytest.mark.asyncio(loop_scope="module")

STEPS = 40
TOKEN = Token(value=3, hops=0, limit=STEPS, delay_ms=20)
SHORT = Token(value=1, hops=0, limit=3)


executors = executors_fixture("stages")
runners = runners_fixture(Runners)


async def alive(runners: Runners, count: int) -> None:
    """Return once `count` runners say in the database that they are alive."""
    query = "SELECT count(*) FROM runners WHERE alive_until > extract(epoch from now())"
    # Other processes write it: there is nothing to await but the table.
    await until(lambda: rows(runners.store, query) == [(count,)], f"{count} runners alive")


async def test_runs_started_through_one_runner_are_driven_by_every_live_runner(
    runners: Runners, executors: str
) -> None:
    a, b, c = [await runners.start() for _ in range(3)]
    await a.register_workflow(stage_loop("spread", [executors, executors], STEPS + 10))
    await alive(runners, 3)

    run_ids = [(await a.start_run("spread", TOKEN)).run_id for _ in range(9)]  # all through A
    results = [await a.wait(run_id) for run_id in run_ids]

    assert [r.run.status for r in results] == [E.RUN_STATUS_COMPLETED] * 9
    for result in results:
        assert_exact_log(result.events)  # each once, from its start
        assert len(of_kind(result.events, E.EVENT_KIND_RUN_STARTED)) == 1
        assert of_kind(result.events, E.EVENT_KIND_RUN_RESUMED) == []  # started, not restored
    owners = runners.owners(run_ids)
    assert {epoch for _, epoch in owners.values()} == {1}  # driven by one runner each, at once
    per_runner = Counter(owner for owner, _ in owners.values())
    print(f"\nruns per runner (9 started through one): {sorted(per_runner.values())}")
    assert len(per_runner) == 3
    assert min(per_runner.values()) >= 2
    assert await b.get_run(run_ids[0]) == await c.get_run(run_ids[0])  # any runner answers


class Dashboard:
    """A WatchRuns stream on one runner: every event it got, by run."""

    def __init__(self, client: RunnerClient, workflow_id: str = "") -> None:
        self.events: dict[str, list[E.Event]] = {}
        self.changed = asyncio.Event()
        self._stream = client.watch_all(workflow_id=workflow_id)
        self._task = asyncio.create_task(self._watch())

    async def subscribed(self) -> None:
        """Return once its runner has subscribed the stream: live from here on."""
        await self._stream.subscribed()

    async def _watch(self) -> None:
        async for event in self._stream:
            self.events.setdefault(event.run_id, []).append(event)
            self.changed.set()

    async def until(self, run_ids: list[str], ended: bool = True) -> None:
        """Return once it saw an event of each run (its last, with `ended`)."""
        while not all(self._has(r, ended) for r in run_ids):
            self.changed.clear()
            await self.changed.wait()

    def _has(self, run_id: str, ended: bool) -> bool:
        events = self.events.get(run_id, [])
        return bool(events) and (not ended or events[-1].status == E.RUN_STATUS_COMPLETED)

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def test_watch_runs_on_any_runner_shows_every_event_of_every_run(
    runners: Runners, executors: str
) -> None:
    a, b, c = [await runners.start() for _ in range(3)]
    for workflow_id in ("watched", "other"):
        await a.register_workflow(stage_loop(workflow_id, [executors, executors], STEPS + 10))
    await alive(runners, 3)
    every, theirs = Dashboard(c), Dashboard(b, "watched")  # all runs; one workflow's
    try:
        # Live once their runners have subscribed them: a run after that is
        # seen by both (before, a probe run the dashboard missed timed out).
        for dashboard in (every, theirs):
            await dashboard.subscribed()
        probe = (await a.run("watched", SHORT)).run.run_id
        async with asyncio.timeout(60):  # a guard against hanging, not a measure
            await every.until([probe], ended=False)
            await theirs.until([probe], ended=False)
        run_ids = [(await a.start_run("watched", TOKEN)).run_id for _ in range(6)]
        other = (await a.start_run("other", SHORT)).run_id
        owners = runners.owners(run_ids)
        first = owners[run_ids[0]][0]  # A drives its first run: the share was free
        moving = [r for r in run_ids if owners[r][0] == first]
        await until_superstep(b, moving[-1], 6)
        await runners.services[0].kill()  # SIGKILL A mid-run: B and C take its runs over
        results = [await b.wait(run_id) for run_id in run_ids]
        async with asyncio.timeout(30):
            await every.until([*run_ids, other])
            await theirs.until(run_ids)
    finally:
        await every.close()
        await theirs.close()

    moved = runners.owners(moving)
    assert {epoch for _, epoch in moved.values()} == {2}  # each taken over once
    for result in results:
        logged = [e.SerializeToString() for e in result.events]
        assert_exact_log(result.events)
        for dashboard in (every, theirs):  # every event once, in order, on both runners
            assert [e.SerializeToString() for e in dashboard.events[result.run.run_id]] == logged
    assert other in every.events and other not in theirs.events
    print(f"\nwatched across runners: {len(run_ids)} runs, {len(moving)} moved mid-watch")


async def test_watch_runs_relays_a_run_made_again_under_a_deleted_id_from_its_start(
    runners: Runners, executors: str
) -> None:
    """A's dashboard followed run r1 (driven by B) part of the way when A
    was paused; meanwhile r1 ended, was deleted and made again under its id:
    once A goes on, the dashboard gets the new run from its first event,
    not from where the deleted one had got to."""
    a = await runners.start("--max-runs", "0")  # serves WatchRuns, drives nothing
    b = await runners.start()
    await b.register_workflow(stage_loop("again", [executors, executors], STEPS + 10))
    await alive(runners, 1)
    live = a.watch_all(workflow_id="again")
    await live.subscribed()
    got: list[E.Event] = []
    changed = asyncio.Event()

    async def watch() -> None:
        async for event in live:
            got.append(event)
            changed.set()

    async def until(done: Callable[[], bool]) -> None:
        async with asyncio.timeout(30):
            while not done():
                changed.clear()
                await changed.wait()

    watching = asyncio.create_task(watch())
    try:
        await b.start_run("again", TOKEN, run_id="r1")
        await until(lambda: any(e.sequence >= 3 for e in got))
        runners.services[0].process.send_signal(signal.SIGSTOP)
        followed = len(got)
        assert not any(
            e.kind == E.EVENT_KIND_STATUS_CHANGED and e.status == E.RUN_STATUS_COMPLETED
            for e in got
        )
        await b.wait("r1")
        await b.delete_run("r1")
        await b.start_run("again", TOKEN, run_id="r1")  # a new run, the same id
        again = (await b.wait("r1")).events
        runners.services[0].process.send_signal(signal.SIGCONT)
        last = again[-1].SerializeToString()
        await until(lambda: bool(got) and got[-1].SerializeToString() == last)
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)

    assert_exact_log(again)
    relayed = [e.SerializeToString() for e in got[followed:]]
    new = [e.SerializeToString() for e in again]
    assert relayed[-len(new) :] == new  # the new run whole, from sequence 1
