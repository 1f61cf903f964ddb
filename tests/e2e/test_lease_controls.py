"""Cancel, answers, resume and fork sent to a runner that does not own the run
(separate runner processes on one real PostgreSQL database): each reaches the
run through the database and takes effect, and the run is driven to its end
exactly once.

Runner A drives the runs (it starts them); each request goes to B, a runner
like A (it takes the run in hand at a new epoch), or to P, which serves the
API only (--max-runs 0): P commits the request and releases the run's lease,
and a runner with room claims it. The delay from the request to its effect
is printed (the figure of "within a second"), never asserted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from stepline import RunnerClient
from stepline.v1 import events_pb2 as E
from tests.executors.approvals import Decision, Order, approve_workflow
from tests.executors.stages import Token
from tests.support.leased import LEASE, Runners, final, logged
from tests.support.postgres import TemporaryPostgres
from tests.support.processes import start_executors
from tests.support.runs import assert_exact_log, stage_loop, until_superstep, until_waiting

pytestmark = pytest.mark.asyncio(loop_scope="module")

STEPS = 30
TOKEN = Token(value=3, hops=0, limit=STEPS, delay_ms=20)
SENT_TO = ["B", "P"]  # a runner like the owner; one that serves the API only


@dataclass
class Setup:
    runners: Runners
    a: RunnerClient
    by_name: dict[str, RunnerClient]
    expected: tuple[list[Any], dict[str, Any]]  # outputs and states of an uninterrupted run

    def owner(self, run_id: str) -> str:
        """Which runner the database names as the run's owner: A, B or P."""
        _, owner = self.runners.stored(run_id)
        names = {self.runners.runner_id(i): n for i, n in enumerate("ABP")}
        return names.get(owner, owner)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def setup(
    postgres_server: TemporaryPostgres, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Setup]:
    stages = await start_executors("stages")
    approvals = await start_executors("approvals")
    runners = Runners(postgres_server.new_database(), tmp_path_factory.mktemp("controls"))
    try:
        a, b = await runners.start(), await runners.start()
        p = await runners.start(LEASE, "--max-runs", "0")
        await a.register_workflow(stage_loop("loop", [stages.address] * 2, STEPS + 10))
        await a.register_workflow(approve_workflow(approvals.address))
        expected = await final(a, await a.run("loop", TOKEN))
        yield Setup(runners, a, {"B": b, "P": p}, expected)
    finally:
        await runners.close()
        await stages.kill()
        await approvals.kill()


def after(events: list[E.Event], sequence: int, kind: E.EventKind) -> E.Event:
    """The first event of `kind` after `sequence`."""
    return next(e for e in events if e.kind == kind and e.sequence > sequence)


def delay(event: E.Event, sent: float) -> float:
    return event.time.ToDatetime().timestamp() - sent


async def test_a_cancel_sent_to_another_runner_stops_the_owner(setup: Setup) -> None:
    for name, client in setup.by_name.items():
        run = await setup.a.start_run("loop", TOKEN)
        await until_superstep(client, run.run_id, 4)
        began = time.monotonic()
        cancelled = await client.cancel_run(run.run_id)
        assert cancelled.status == E.RUN_STATUS_CANCELLED
        # Its next commit refused (let go), or its lease renewal (another runner took it).
        owner_log = setup.runners.log(0)
        stopped = (f"run {run.run_id}: let go", f"run {run.run_id}: another runner took")
        await logged(owner_log, *stopped)
        took = time.monotonic() - began
        print(f"\ncancel sent to {name}: the owner let go {took:.2f}s after it")
        # Nothing the owner did after the cancel took effect.
        after_cancel = await setup.a.get_run(run.run_id)
        assert after_cancel.status == E.RUN_STATUS_CANCELLED
        assert after_cancel.last_sequence == cancelled.last_sequence
        events = [e async for e in setup.a.watch(run.run_id)]
        assert [e.sequence for e in events] == list(range(1, len(events) + 1))
        assert events[-1].status == E.RUN_STATUS_CANCELLED
        assert not [e for e in events if e.kind == E.EVENT_KIND_OUTPUT]


@pytest.mark.parametrize("name", SENT_TO)
async def test_an_answer_sent_to_another_runner_is_consumed_once(setup: Setup, name: str) -> None:
    client = setup.by_name[name]
    run = await setup.a.start_run("approve", Order(f"o-{name}", 250))
    await until_waiting(client, run.run_id)
    assert setup.owner(run.run_id) == "A"
    (request,) = await client.list_pending_requests(run.run_id)

    sent = time.time()
    await client.send_responses(run.run_id, {request.request_id: Decision(True, name)})
    result = await client.wait(run.run_id, output_type=dict)

    assert result.outputs == [{"order": f"o-{name}", "status": "approved", "by": name}]
    assert_exact_log(result.events)
    states = await client.get_checkpoint_states(result.run.latest_checkpoint_id)
    assert states["boss"] == {"asked": 1, "decisions": [True]}  # consumed once
    (answer,) = [e for e in result.events if e.kind == E.EVENT_KIND_RESPONSE_RECEIVED]
    invoked = after(result.events, answer.sequence, E.EVENT_KIND_EXECUTOR_INVOKED)
    assert invoked.executor_id == "boss"
    print(f"\nanswer sent to {name}: the executor got it {delay(invoked, sent):.3f}s later")
    assert setup.owner(run.run_id) in ({"B"} if name == "B" else {"A", "B"})


@pytest.mark.parametrize("name", SENT_TO)
async def test_a_resume_sent_to_another_runner_drives_the_run_once(setup: Setup, name: str) -> None:
    client = setup.by_name[name]
    run = await setup.a.start_run("loop", TOKEN)
    await until_superstep(setup.a, run.run_id, 5)
    stopped = await setup.a.cancel_run(run.run_id)  # A owns it, stopped
    assert setup.owner(run.run_id) == "A"

    sent = time.time()
    await client.resume(stopped.latest_checkpoint_id)
    result = await client.wait(run.run_id, after=stopped.last_sequence)

    assert result.run.status == E.RUN_STATUS_COMPLETED
    # From the start, a watch goes past the cancel the resume went on from.
    assert_exact_log([e async for e in client.watch(run.run_id)])
    assert await final(client, result) == setup.expected
    resumed = [e for e in result.events if e.kind == E.EVENT_KIND_RUN_RESUMED][-1]
    first = after(result.events, resumed.sequence, E.EVENT_KIND_SUPERSTEP_STARTED)
    print(f"\nresume sent to {name}: next superstep {delay(first, sent):.3f}s later")
    assert setup.owner(run.run_id) in ({"B"} if name == "B" else {"A", "B"})


@pytest.mark.parametrize("name", SENT_TO)
async def test_a_fork_sent_to_another_runner_drives_the_fork_once(setup: Setup, name: str) -> None:
    client = setup.by_name[name]
    run = await setup.a.start_run("loop", TOKEN)
    await until_superstep(setup.a, run.run_id, 6)  # A drives it on meanwhile
    early = [c async for c in client.list_checkpoints(run.run_id) if c.superstep == 3]

    sent = time.time()
    fork = await client.resume(early[0].checkpoint_id, fork=True)
    forked, source = await asyncio.gather(client.wait(fork.run_id), setup.a.wait(run.run_id))

    for result in (forked, source):
        assert result.run.status == E.RUN_STATUS_COMPLETED
        assert_exact_log(result.events)
        assert await final(client, result) == setup.expected
    first = after(forked.events, 0, E.EVENT_KIND_SUPERSTEP_STARTED)
    print(f"\nfork sent to {name}: its first superstep {delay(first, sent):.3f}s later")
    assert setup.owner(run.run_id) == "A"
    assert setup.owner(fork.run_id) in ({"B"} if name == "B" else {"A", "B"})
