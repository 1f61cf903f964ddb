"""Tenants against real processes: a principal of another namespace cannot
read, cancel, resume, answer or re-register what team-a has, nor learn that
it exists; ids taken in one namespace are free in another; control actions
record who did them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import grpc
import pytest
import pytest_asyncio

from stepline import RunnerClient, SteplineError
from stepline.v1 import events_pb2 as E
from tests.executors.approvals import Decision, Order, approval
from tests.support.cluster import Cluster
from tests.support.runs import of_kind, until_waiting
from tests.support.tenants import ADMIN, OPERATOR, OTHER, client_as, tenant_cluster

pytestmark = pytest.mark.asyncio(loop_scope="module")

NEVER = "never-was"


@dataclass
class TeamA:
    """Team-a's workflow "orders" at the honest service, and its run "r1"
    waiting for input; the other service is the attacker's."""

    cluster: Cluster
    checkpoint_id: str  # r1's latest
    first_checkpoint_id: str  # r1's checkpoint 0, which could be deleted

    @property
    def honest(self) -> str:
        return self.cluster.addresses[0]

    @property
    def attacker(self) -> str:
        return self.cluster.addresses[1]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def team_a(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TeamA]:
    tmp = tmp_path_factory.mktemp("tenants")
    async with tenant_cluster(tmp, "approvals", "mallory") as cluster:
        operator = client_as(cluster, OPERATOR, "team-a")
        run = await operator.start_run("orders", Order("o-1", 900), run_id="r1")
        await until_waiting(operator, "r1")
        latest = (await operator.get_run("r1")).latest_checkpoint_id
        yield TeamA(cluster, latest, run.latest_checkpoint_id)


async def refusal(call: Awaitable[Any]) -> tuple[grpc.StatusCode, str, str]:
    with pytest.raises(SteplineError) as refused:
        await call
    error = refused.value
    return error.code, str(error.reason), str(error)


async def drained(events: AsyncIterator[Any]) -> list[Any]:
    return [e async for e in events]


async def test_another_namespace_learns_nothing_of_team_a(team_a: TeamA) -> None:
    other = client_as(team_a.cluster, OTHER, "team-b")
    cp, first = team_a.checkpoint_id, team_a.first_checkpoint_id
    unknown_cp = "0" * 32
    # Each call on team-a's object, beside the same call on one that never was.
    pairs: list[tuple[Awaitable[Any], Awaitable[Any]]] = [
        (other.get_run("r1"), other.get_run(NEVER)),
        (other.cancel_run("r1"), other.cancel_run(NEVER)),
        (other.delete_run("r1"), other.delete_run(NEVER)),
        (other.list_pending_requests("r1"), other.list_pending_requests(NEVER)),
        (drained(other.list_checkpoints("r1")), drained(other.list_checkpoints(NEVER))),
        (drained(other.watch("r1")), drained(other.watch(NEVER))),
        (
            other.send_responses("r1", {"x": Decision(True, "eve")}),
            other.send_responses(NEVER, {"x": Decision(True, "eve")}),
        ),
        (other.get_workflow("orders"), other.get_workflow(NEVER)),
        (other.start_run("orders", Order("o-9", 1)), other.start_run(NEVER, Order("o-9", 1))),
        (other.move_runs("orders", 1, ["r1"]), other.move_runs(NEVER, 1, ["r1"])),
        (
            drained(other.watch_all(workflow_id="orders")),
            drained(other.watch_all(workflow_id=NEVER)),
        ),
        (other.get_checkpoint(cp, include_content=True), other.get_checkpoint(unknown_cp)),
        (other.delete_checkpoint(cp), other.delete_checkpoint(unknown_cp)),
        (other.delete_checkpoint(first), other.delete_checkpoint(unknown_cp)),
        (other.resume(cp), other.resume(unknown_cp)),
        (other.resume(cp, fork=True, new_run_id="stolen"), other.resume(unknown_cp, fork=True)),
    ]
    for theirs, nothing in pairs:
        code, reason, message = await refusal(theirs)
        expected_code, expected_reason, expected = await refusal(nothing)
        assert code == expected_code == grpc.StatusCode.NOT_FOUND
        assert reason == expected_reason
        for taken, free in (
            ("r1", NEVER),
            ("orders", NEVER),
            (cp, unknown_cp),
            (first, unknown_cp),
        ):
            message = message.replace(f"'{taken}'", f"'{free}'")
        assert message == expected

    assert [r async for r in other.list_runs()] == []
    assert [w async for w in other.list_workflows()] == []
    mine = client_as(team_a.cluster, ADMIN, "team-a")
    run = await mine.get_run("r1")
    assert run.status == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS
    assert run.latest_checkpoint_id == cp
    assert first in [c.checkpoint_id async for c in mine.list_checkpoints("r1")]
    assert [r.run_id async for r in mine.list_runs()] == ["r1"]


async def test_ids_of_another_namespace_are_free_and_reach_nothing_of_it(team_a: TeamA) -> None:
    other = client_as(team_a.cluster, OTHER, "team-b")
    # The hijack of issue 13, from another namespace: same id, same shape.
    forged = await other.register_workflow(approval("orders", team_a.attacker))
    theirs = await other.start_run("orders", Order("o-1", 900), run_id="r1")
    await until_waiting(other, "r1")

    operator = client_as(team_a.cluster, OPERATOR, "team-a")
    (request,) = await operator.list_pending_requests("r1")
    await operator.send_responses("r1", {request.request_id: Decision(True, "ann")})
    result = await operator.wait("r1", output_type=dict)

    assert forged.version == 1, "a version of its own workflow, not team-a's second"
    assert theirs.workflow_version == 1 and theirs.run_id == "r1"
    assert result.outputs == [{"order": "o-1", "status": "approved", "by": "ann"}]
    definition, _ = await operator.get_workflow("orders")
    assert {x.endpoint for x in definition.executors} == {team_a.honest}
    (pending,) = await other.list_pending_requests("r1")  # its own run still waits
    assert pending.executor_id == "boss"
    started = of_kind(result.events, E.EVENT_KIND_RUN_STARTED)
    received = of_kind(result.events, E.EVENT_KIND_RESPONSE_RECEIVED)
    assert [e.principal for e in started + received] == ["operator-a", "operator-a"]
    assert {e.run_id for e in result.events} == {"r1"}


async def test_watching_every_run_shows_only_the_namespace_s_own(team_a: TeamA) -> None:
    other = client_as(team_a.cluster, OTHER, "team-c-unused")
    b = client_as(team_a.cluster, OTHER, "team-b")
    operator = client_as(team_a.cluster, OPERATOR, "team-a")
    seen: list[E.Event] = []
    events = b.watch_all()
    # Live only: what is committed before the runner subscribed goes unseen.
    await asyncio.wait_for(events.subscribed(), 60)

    async def watch() -> None:
        async for event in events:
            seen.append(event)
            if event.run_id == "b-last" and event.status == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS:
                return

    watcher = asyncio.create_task(watch())
    await b.start_run("orders", Order("o-2", 5), run_id="b-1")
    await until_waiting(b, "b-1")
    await operator.start_run("orders", Order("o-3", 5), run_id="a-2")
    await until_waiting(operator, "a-2")  # committed before b-last starts
    await b.start_run("orders", Order("o-4", 5), run_id="b-last")
    await asyncio.wait_for(watcher, 60)

    assert {e.run_id for e in seen} == {"b-1", "b-last"}  # never a-2
    assert (seen[0].run_id, seen[0].kind) == ("b-1", E.EVENT_KIND_RUN_STARTED)
    code, _, _ = await refusal(other.get_run("b-1"))
    assert code == grpc.StatusCode.PERMISSION_DENIED  # admin-b has no role there


async def test_control_actions_record_their_principal(team_a: TeamA) -> None:
    operator = client_as(team_a.cluster, OPERATOR, "team-a")
    admin = client_as(team_a.cluster, ADMIN, "team-a")
    await operator.start_run("orders", Order("o-5", 5), run_id="a-3")
    await until_waiting(operator, "a-3")
    cancelled = await admin.cancel_run("a-3")
    resumed = await operator.resume(cancelled.latest_checkpoint_id)
    await until_waiting(operator, "a-3", after=cancelled.last_sequence)
    fork = await admin.resume(resumed.latest_checkpoint_id, fork=True, new_run_id="a-3-fork")
    log: list[E.Event] = []
    # From the start: past the cancel (a resume went on from it) to the wait.
    async for event in operator.watch("a-3"):
        log.append(event)
        if (
            event.sequence > cancelled.last_sequence
            and event.status == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS
        ):
            break
    events = [e for e in log if e.principal]

    assert [(E.EventKind.Name(e.kind), e.principal) for e in events] == [
        ("EVENT_KIND_RUN_STARTED", "operator-a"),
        ("EVENT_KIND_STATUS_CHANGED", "operator-a"),
        ("EVENT_KIND_STATUS_CHANGED", "admin-a"),
        ("EVENT_KIND_RUN_RESUMED", "operator-a"),
        ("EVENT_KIND_STATUS_CHANGED", "operator-a"),
    ]
    assert fork.run_id == "a-3-fork" and fork.parent_run_id == "a-3"
    async for event in admin.watch("a-3-fork"):  # it waits for input: no end
        assert (E.EventKind.Name(event.kind), event.principal) == (
            "EVENT_KIND_RUN_STARTED",
            "admin-a",
        )
        break
    # What the runner does by itself names nobody.
    own = (E.EVENT_KIND_SUPERSTEP_STARTED, E.EVENT_KIND_REQUEST_INFO)
    by_itself = [e for e in log if e.kind in own]
    assert by_itself and not any(e.principal for e in by_itself)


async def test_a_client_without_a_namespace_is_in_default_and_sees_no_team(
    team_a: TeamA,
) -> None:
    everywhere = RunnerClient(team_a.cluster.runner.address, token="token-of-root")
    team_a.cluster.clients.append(everywhere)
    assert [r async for r in everywhere.list_runs()] == []
    code, _, message = await refusal(everywhere.get_run("r1"))
    assert code == grpc.StatusCode.NOT_FOUND and "team" not in message
    bad, reason, text = await refusal(client_as(team_a.cluster, ADMIN, "Team A!").get_run("r1"))
    assert (bad, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_NAMESPACE")
    assert "namespace 'Team A!' must be" in text


async def test_schedules_are_the_namespace_s_own_and_start_runs_there(team_a: TeamA) -> None:
    operator = client_as(team_a.cluster, OPERATOR, "team-a")
    other = client_as(team_a.cluster, OTHER, "team-b")
    seen = operator.watch_all()
    await asyncio.wait_for(seen.subscribed(), 60)  # live from here on
    first = asyncio.ensure_future(anext(seen))
    await operator.create_schedule(
        "tick", "orders", Order("o-6", 5), interval=timedelta(seconds=1), overlap="allow"
    )
    started = await asyncio.wait_for(first, 60)
    while not (started.kind == E.EVENT_KIND_RUN_STARTED and started.run_id.startswith("tick-")):
        started = await asyncio.wait_for(anext(seen), 60)
    await operator.pause_schedule("tick")
    await seen.aclose()

    for theirs, nothing in [
        (other.get_schedule("tick"), other.get_schedule(NEVER)),
        (other.pause_schedule("tick"), other.pause_schedule(NEVER)),
        (other.resume_schedule("tick"), other.resume_schedule(NEVER)),
        (other.delete_schedule("tick"), other.delete_schedule(NEVER)),
    ]:
        code, reason, message = await refusal(theirs)
        expected = await refusal(nothing)
        assert (code, reason) == expected[:2] == (grpc.StatusCode.NOT_FOUND, "SCHEDULE_NOT_FOUND")
        assert message.replace("'tick'", f"'{NEVER}'") == expected[2]
    assert [s async for s in other.list_schedules()] == []
    mine = [s async for s in operator.list_schedules()]
    assert [(s.spec.schedule_id, s.spec.workflow_id, s.paused) for s in mine] == [
        ("tick", "orders", True)
    ]
    run = await operator.get_run(started.run_id)  # a run of team-a, by its id there
    assert run.workflow_id == "orders" and started.principal == "operator-a"
    # The same schedule id is free in another namespace, on its own workflow.
    created = await other.create_schedule("tick", "orders", Order("o-7", 5), cron="@yearly")
    assert created.spec.schedule_id == "tick"
    await other.delete_schedule("tick")
    assert (await operator.get_schedule("tick")).paused
