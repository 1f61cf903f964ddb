"""What runners sharing one PostgreSQL database decide together, real
processes: a workflow's max_concurrent_runs holds across them (count and
start are one decision in the database), and one runner at a time fires the
schedules, another once it dies."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from datetime import timedelta

import pytest

from stepline import RunnerClient, WorkflowBuilder
from stepline.v1 import events_pb2 as E
from tests.support.runners import Runners, executors_fixture, runners_fixture
from tests.support.runs import until_waiting
from tests.support.stores import rows
from tests.support.waiting import until

pytestmark = pytest.mark.asyncio(loop_scope="module")

LIMIT = 2
RUNS = 9
EVERY = 1  # seconds between a schedule's fire times


flow = executors_fixture("flow")
runners = runners_fixture(Runners)


async def statuses(client: RunnerClient, run_ids: list[str]) -> dict[str, int]:
    return {r: (await client.get_run(r)).status for r in run_ids}


QUEUED = E.RUN_STATUS_QUEUED


def occupying(found: dict[str, int]) -> list[str]:
    return [r for r, s in found.items() if s not in (QUEUED, E.RUN_STATUS_COMPLETED)]


async def test_max_concurrent_runs_holds_across_runners(runners: Runners, flow: str) -> None:
    clients = [await runners.start() for _ in range(3)]
    await clients[0].register_workflow(
        WorkflowBuilder("two-at-once", max_concurrent_runs=LIMIT)
        .add_executor("ask", flow, type="asker")
        .set_start_executor("ask")
        .build()
    )
    # Three starts on each runner at once: each runner counts what the others start.
    started = await asyncio.gather(
        *(clients[i % 3].start_run("two-at-once", i, run_id=f"q{i}") for i in range(RUNS))
    )
    run_ids = [r.run_id for r in started]
    assert [r.status for r in started].count(QUEUED) == RUNS - LIMIT

    client = clients[1]
    peak = 0
    for remaining in range(RUNS, 0, -1):
        going = occupying(await statuses(client, run_ids))
        peak = max(peak, len(going))
        assert len(going) == min(LIMIT, remaining)
        queued = [r async for r in client.list_runs("two-at-once", statuses=[QUEUED])]
        first = going[0]
        await until_waiting(client, first)
        (request,) = await client.list_pending_requests(first)
        await client.send_responses(first, {request.request_id: 1})
        await client.wait(first)
        if queued:  # the oldest queued run takes the slot, on whichever runner
            await until_waiting(client, queued[-1].run_id)
    assert peak == LIMIT
    assert set((await statuses(client, run_ids)).values()) == {E.RUN_STATUS_COMPLETED}
    # The logs agree: LIMIT runs started at once, the others through the queue.
    begun = []
    for run_id in run_ids:
        events = [e async for e in client.watch(run_id)]
        begun.append(next(e.status for e in events if e.status))
    assert begun.count(E.RUN_STATUS_RUNNING) == LIMIT


def fires_of(runners: Runners, i: int) -> list[str]:
    """The runs runner i's scheduler started, as its log says, in order."""
    text = runners.log(i).read_text(errors="replace")
    return re.findall(r"schedule tick: started run (\S+)", text)


async def scheduled(runners: Runners, count: int, since: Sequence[str] = ()) -> list[str]:
    """Return once the schedule has `count` runs in the database, all but the
    last of them not in `since` named by the logs (a start is logged after it
    commits): their ids."""
    query = "SELECT run_id FROM runs WHERE run_id LIKE 'tick-%' ORDER BY run_id"

    def started() -> list[str]:
        found = [str(r[0]) for r in rows(runners.store, query)]
        logged = {r for i in range(len(runners.services)) for r in fires_of(runners, i)}
        return found if len(found) >= count and set(found[:-1]) - set(since) <= logged else []

    # The schedulers are other processes: there is nothing to await but the
    # table and their logs.
    return await until(started, f"{count} runs of the schedule, logged")


async def test_one_runner_fires_a_schedule_and_another_once_it_dies(
    runners: Runners, flow: str
) -> None:
    await runners.start()
    b = await runners.start()
    await b.register_workflow(
        WorkflowBuilder("stamped")
        .add_executor("stamp", flow, type="stamp")
        .set_start_executor("stamp")
        .build()
    )
    await b.create_schedule("tick", "stamped", "tock", interval=timedelta(seconds=EVERY))
    before = await scheduled(runners, 3)
    by_runner = [fires_of(runners, i) for i in (0, 1)]
    leader = 0 if by_runner[0] else 1
    assert by_runner[1 - leader] == []  # the other runner fired nothing meanwhile
    await runners.services[leader].kill()  # SIGKILL the leader
    after = await scheduled(runners, len(before) + 3, before)  # the other took the duty over

    fired = fires_of(runners, 1 - leader)
    assert fired and len(fired) == len(set(fired))  # no fire time started twice by it
    assert set(after) - set(before) <= set(fired) | {after[-1]}  # the last may not be logged yet
    alive = runners.clients[1 - leader]
    for run_id in after[:-1]:
        result = await alive.wait(run_id, output_type=str)
        assert result.outputs == ["tock"]
        events = [e async for e in alive.watch(run_id)]
        assert [e.kind for e in events].count(E.EVENT_KIND_RUN_STARTED) == 1
    print(f"\nschedule: {len(before)} runs fired by the leader, then {len(fired)} by the other")


async def test_one_runner_at_a_time_sweeps_finished_runs_away(runners: Runners, flow: str) -> None:
    clients = [await runners.start("--delete-finished-after", "1s") for _ in range(2)]
    await clients[0].register_workflow(
        WorkflowBuilder("stamped")
        .add_executor("stamp", flow, type="stamp")
        .set_start_executor("stamp")
        .build()
    )
    for i in range(6):
        await clients[i % 2].run("stamped", "x")

    def swept() -> list[list[int]]:
        said = [runners.log(i).read_text(errors="replace") for i in (0, 1)]
        counts = [[int(n) for n in re.findall(r"deleted (\d+) finished run", s)] for s in said]
        return counts if sum(map(sum, counts)) >= 6 else []

    # The sweeps are other processes': there is nothing to await but their
    # logs, where a sweep's line follows its deletions' commits.
    counts = await until(swept, "six runs logged as deleted")
    assert rows(runners.store, "SELECT count(*) FROM runs") == [(0,)]
    assert sorted(bool(c) for c in counts) == [False, True]  # the leader's sweeps only
    assert sum(map(sum, counts)) == 6
