"""A connection to PostgreSQL lost during COMMIT, for real (a proxy between
the runner process and the server cuts it, tests/support/pgproxy.py): the
outcome is unknown, so the runner says so (UNAVAILABLE, reason
COMMIT_OUTCOME_UNKNOWN, "read the run with GetRun") rather than "nothing was
changed", and reads the run's committed position again before it goes on: a
commit that landed is neither lost nor repeated, one that did not is made
again, exactly once. A dashboard (WatchRuns) sees every event of the run once,
in order, those of a commit that landed unheard too."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import pytest_asyncio
from psycopg.conninfo import conninfo_to_dict

from stepline import RunnerClient, SteplineError
from stepline.reasons import Reason
from stepline.testing import Service, start_runner
from stepline.v1 import events_pb2 as E
from tests.executors.approvals import Decision, Order, approve_workflow
from tests.executors.stages import Token
from tests.support.leased import final
from tests.support.pgproxy import CommitCutter, Mode
from tests.support.postgres import TemporaryPostgres
from tests.support.processes import ROOT, start_executors
from tests.support.runs import assert_exact_log, stage_loop, until_superstep, until_waiting

pytestmark = pytest.mark.asyncio(loop_scope="module")

TOKEN = Token(value=3, hops=0, limit=12, delay_ms=30)


class Dashboard:
    """A WatchRuns stream: every event it got, by run."""

    def __init__(self, client: RunnerClient) -> None:
        self.events: dict[str, list[E.Event]] = {}
        self.changed = asyncio.Event()
        self._task = asyncio.create_task(self._watch(client))

    async def _watch(self, client: RunnerClient) -> None:
        async for event in client.watch_all():
            self.events.setdefault(event.run_id, []).append(event)
            self.changed.set()

    async def until(self, run_id: str, sequence: int) -> list[E.Event]:
        """The run's events it got, once it got one at `sequence` or later."""
        async with asyncio.timeout(30):
            while not any(e.sequence >= sequence for e in self.events.get(run_id, [])):
                self.changed.clear()
                await self.changed.wait()
        return self.events[run_id]

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


@dataclass
class Setup:
    client: RunnerClient
    cutter: CommitCutter
    runner: Service
    log: Path
    expected: tuple[list[Any], dict[str, Any]]
    dashboard: Dashboard


async def assert_dashboard_saw_all(setup: Setup, run_id: str) -> None:
    """The dashboard got every event of the run's log once, in order."""
    stored = (await setup.client.wait(run_id)).events
    seen = await setup.dashboard.until(run_id, stored[-1].sequence)
    assert [(e.sequence, e.kind) for e in seen] == [(e.sequence, e.kind) for e in stored]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def setup(
    postgres_server: TemporaryPostgres, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Setup]:
    server = conninfo_to_dict(postgres_server.dsn)
    cutter = await CommitCutter.start(str(server["host"]), int(str(server["port"])))
    url = postgres_server.new_database()
    via = url.replace(f":{server['port']}/", f":{cutter.port}/", 1)
    via += ("&" if "?" in via else "?") + "sslmode=disable"  # the proxy reads plain bytes
    stages = await start_executors("stages")
    approvals = await start_executors("approvals")
    log = tmp_path_factory.mktemp("commit-lost") / "runner.log"
    runner = await start_runner(via, 0, log=log, cwd=ROOT)
    client = RunnerClient(runner.address)
    dashboard = Dashboard(client)
    try:
        await client.register_workflow(stage_loop("loop", [stages.address] * 2, 40))
        await client.register_workflow(approve_workflow(approvals.address))
        # The dashboard's subscription is live once it saw a run.
        while not dashboard.events:
            expected = await final(client, await client.run("loop", TOKEN))
        yield Setup(client, cutter, runner, log, expected, dashboard)
    finally:
        await dashboard.close()
        await client.close()
        await runner.kill()
        await stages.kill()
        await approvals.kill()
        await cutter.close()


def count(events: list[E.Event], kind: E.EventKind) -> Counter[int]:
    """How often each superstep has an event of `kind`."""
    return Counter(e.superstep for e in events if e.kind == kind)


@pytest.mark.parametrize("mode", ["after", "before"])
async def test_a_superstep_commit_whose_answer_was_lost_is_neither_lost_nor_repeated(
    setup: Setup, mode: Mode
) -> None:
    client = setup.client
    run = await client.start_run("loop", TOKEN)
    await until_superstep(client, run.run_id, 3)
    cut = setup.cutter.arm(mode)  # the next commit: a superstep's
    await cut.wait()
    result = await client.wait(run.run_id)

    assert result.run.status == E.RUN_STATUS_COMPLETED
    assert_exact_log(result.events)
    assert await final(client, result) == setup.expected
    # Every superstep's events and checkpoint once, the cut one's too: from
    # the checkpoint the store holds (the cut one if it landed, else the one
    # before, and that superstep ran again), never a superstep twice.
    for kind in (E.EVENT_KIND_SUPERSTEP_STARTED, E.EVENT_KIND_SUPERSTEP_COMPLETED):
        assert set(count(result.events, kind).values()) == {1}
    checkpoints = [c.superstep async for c in client.list_checkpoints(run.run_id)]
    assert sorted(checkpoints) == list(range(result.run.superstep + 1))
    (resumed,) = [e for e in result.events if e.kind == E.EVENT_KIND_RUN_RESUMED]
    completed = [e for e in result.events if e.kind == E.EVENT_KIND_SUPERSTEP_COMPLETED]
    assert resumed.superstep == max(e.superstep for e in completed if e.sequence < resumed.sequence)
    said = setup.log.read_text()
    assert f"run {run.run_id}: cannot commit (the connection" in said
    assert "the outcome is unknown" in said and "nothing was changed" not in said
    await assert_dashboard_saw_all(setup, run.run_id)


async def answered(setup: Setup, order: str, mode: Mode) -> tuple[str, str, SteplineError]:
    """A run waiting for input, answered while the answer's commit is cut."""
    client = setup.client
    run = await client.start_run("approve", Order(order, 9))
    await until_waiting(client, run.run_id)
    (request,) = await client.list_pending_requests(run.run_id)
    # The first commit takes the run in hand (a new epoch), the second the answer.
    setup.cutter.arm(mode, skip=1)
    with pytest.raises(SteplineError) as lost:
        await client.send_responses(run.run_id, {request.request_id: Decision(True, "ann")})
    return run.run_id, request.request_id, lost.value


def assert_outcome_unknown(error: SteplineError) -> None:
    assert error.code == grpc.StatusCode.UNAVAILABLE
    assert error.reason == Reason.COMMIT_OUTCOME_UNKNOWN
    assert "the outcome is unknown" in str(error) and "GetRun" in str(error)


async def test_an_answer_whose_commit_landed_unheard_is_consumed_once(setup: Setup) -> None:
    client = setup.client
    run_id, _, error = await answered(setup, "landed", "after")
    assert_outcome_unknown(error)
    # It landed: the runner reads the run again and drives it on by itself.
    result = await client.wait(run_id, output_type=dict)
    assert result.outputs == [{"order": "landed", "status": "approved", "by": "ann"}]
    assert_exact_log(result.events)
    states = await client.get_checkpoint_states(result.run.latest_checkpoint_id)
    assert states["boss"] == {"asked": 1, "decisions": [True]}
    await assert_dashboard_saw_all(setup, run_id)


async def test_an_answer_whose_commit_never_landed_can_be_sent_again(setup: Setup) -> None:
    client = setup.client
    run_id, request_id, error = await answered(setup, "lost", "before")
    assert_outcome_unknown(error)
    waiting = await client.get_run(run_id)  # what GetRun says: still waiting
    assert waiting.status == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS
    await client.send_responses(run_id, {request_id: Decision(True, "bob")})
    result = await client.wait(run_id, output_type=dict)
    assert result.outputs == [{"order": "lost", "status": "approved", "by": "bob"}]
    assert_exact_log(result.events)
    states = await client.get_checkpoint_states(result.run.latest_checkpoint_id)
    assert states["boss"] == {"asked": 1, "decisions": [True]}
    await assert_dashboard_saw_all(setup, run_id)


async def test_a_registration_whose_commit_landed_unheard_is_the_version_new_runs_use(
    setup: Setup,
) -> None:
    """The lone runner knows its workflows' latest versions without a read;
    a registration whose outcome it never heard must not leave it on the
    version before, when the new one landed."""
    client = setup.client
    definition, _ = await client.get_workflow("loop")
    definition.workflow_id = "versions"
    first = await client.register_workflow(definition)
    setup.cutter.arm("after")  # the next commit: the registration of version 2
    with pytest.raises(SteplineError) as lost:
        await client.register_workflow(definition)
    assert_outcome_unknown(lost.value)
    stored, _ = await client.get_workflow("versions", version=first.version + 1)
    assert stored.workflow_id == "versions"  # it landed

    run = await client.start_run("versions", TOKEN)
    assert run.workflow_version == first.version + 1
    assert (await client.wait(run.run_id)).run.status == E.RUN_STATUS_COMPLETED
