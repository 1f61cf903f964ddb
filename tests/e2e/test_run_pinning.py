"""Runs pinned to the version of their workflow they started with: a later
registration (an attacker's included) never redirects them, across runner
restarts; only MoveRuns does, and it logs so in each moved run."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import grpc
import pytest

from stepline import Reason, RunnerClient, SteplineError
from stepline.v1 import events_pb2 as E
from tests.executors.approvals import Decision, Order, approval
from tests.support.cluster import Cluster, cluster_fixture
from tests.support.runs import of_kind, until_waiting

pytestmark = pytest.mark.asyncio(loop_scope="module")

cluster = cluster_fixture("approvals", "mallory", scope="module")


async def refusal(call: Awaitable[Any]) -> SteplineError:
    with pytest.raises(SteplineError) as refused:
        await call
    return refused.value


async def waiting_run(client: RunnerClient, workflow_id: str) -> str:
    run = await client.start_run(workflow_id, Order("o-1", 900))
    await until_waiting(client, run.run_id)
    return run.run_id


async def answer(client: RunnerClient, run_id: str, by: str) -> Any:
    (request,) = await client.list_pending_requests(run_id)
    await client.send_responses(run_id, {request.request_id: Decision(True, by)})
    return await client.wait(run_id, output_type=dict)


async def test_a_hijack_by_re_registration_does_not_reach_the_waiting_run(
    cluster: Cluster,
) -> None:
    original, attacker = cluster.addresses
    client = cluster.client()
    first = await client.register_workflow(approval("hijack", original))
    run_id = await waiting_run(client, "hijack")

    # Same shape, so the same graph signature: the attack of issue 13.
    forged = await client.register_workflow(approval("hijack", attacker))
    assert forged.graph_signature == first.graph_signature
    assert (first.version, forged.version) == (1, 2)
    result = await answer(client, run_id, "ann")

    assert result.outputs == [{"order": "o-1", "status": "approved", "by": "ann"}]
    assert result.run.status == E.RUN_STATUS_COMPLETED
    assert result.run.workflow_version == 1
    assert cluster.log("mallory") == [], "the attacker's service was never called"
    assert not of_kind(result.events, E.EVENT_KIND_RUN_MOVED)
    # New runs use the latest version; the first one is kept as registered.
    summaries = [w async for w in client.list_workflows() if w.workflow_id == "hijack"]
    assert [w.version for w in summaries] == [2]
    old, _ = await client.get_workflow("hijack", version=1)
    assert {x.endpoint for x in old.executors} == {original}


async def test_a_waiting_run_keeps_its_version_across_a_runner_restart(
    cluster: Cluster,
) -> None:
    original, attacker = cluster.addresses
    client = cluster.client()
    await client.register_workflow(approval("restarted", original))
    run_id = await waiting_run(client, "restarted")
    await client.register_workflow(approval("restarted", attacker))

    await cluster.restart_runner()
    client = cluster.client()
    result = await answer(client, run_id, "bob")

    assert result.outputs == [{"order": "o-1", "status": "approved", "by": "bob"}]
    assert cluster.log("mallory") == []


async def test_move_runs_is_the_explicit_way_to_new_endpoints_and_is_logged(
    cluster: Cluster,
) -> None:
    original, elsewhere = cluster.addresses
    client = cluster.client()
    await client.register_workflow(approval("moving", original))
    run_id = await waiting_run(client, "moving")
    second = await client.register_workflow(approval("moving", elsewhere))

    moves = await client.move_runs("moving", second.version, [run_id])
    again = await client.move_runs("moving", second.version, all_runs=True)
    result = await answer(client, run_id, "cy")

    assert list(moves.moved_run_ids) == [run_id]
    assert run_id in again.skipped_run_ids and not again.moved_run_ids
    # The service of version 2 (here the forging one) got the answer.
    assert result.outputs == [{"order": "o-1", "status": "rejected", "by": "mallory"}]
    (moved,) = of_kind(result.events, E.EVENT_KIND_RUN_MOVED)
    assert moved.workflow_version == 2 and "from version 1 to version 2" in moved.message
    assert result.run.workflow_version == 2
    assert {line["kind"] for line in cluster.log("mallory")} >= {"restore", "answer"}


async def test_move_runs_refuses_what_it_cannot_move_with_a_reason(cluster: Cluster) -> None:
    original, _ = cluster.addresses
    client = cluster.client()
    await client.register_workflow(approval("unmoved", original))
    run_id = await waiting_run(client, "unmoved")
    other = await client.register_workflow(approval("unmoved", original, closed=False))
    elsewhere = await client.run("hijack", Order("o-2", 1), timeout=60)  # another workflow's

    refusals = [
        await refusal(client.move_runs("unmoved", 0, [run_id])),
        await refusal(client.move_runs("unmoved", 9, [run_id])),
        await refusal(client.move_runs("unmoved", 1)),
        await refusal(client.move_runs("unmoved", 1, [run_id], all_runs=True)),
        await refusal(client.move_runs("unmoved", other.version, [run_id])),
        await refusal(client.move_runs("unmoved", 1, [elsewhere.run.run_id])),
        await refusal(client.move_runs("unmoved", 1, ["not ok!"])),
    ]

    assert [(r.code, r.reason) for r in refusals] == [
        (grpc.StatusCode.INVALID_ARGUMENT, Reason.INVALID_VERSION),
        (grpc.StatusCode.NOT_FOUND, Reason.WORKFLOW_NOT_FOUND),
        (grpc.StatusCode.INVALID_ARGUMENT, Reason.MISSING_FIELD),
        (grpc.StatusCode.INVALID_ARGUMENT, Reason.MISSING_FIELD),
        (grpc.StatusCode.FAILED_PRECONDITION, Reason.RUN_NOT_MOVABLE),
        (grpc.StatusCode.NOT_FOUND, Reason.RUN_NOT_FOUND),
        (grpc.StatusCode.INVALID_ARGUMENT, Reason.INVALID_ID),
    ]
    assert "only endpoints may change" in str(refusals[4])
    assert "version 9" in str(refusals[1])
    skipped = await client.move_runs("unmoved", other.version, all_runs=True)
    assert list(skipped.skipped_run_ids) == [run_id] and not skipped.moved_run_ids
    stored = await client.get_run(run_id)
    assert stored.workflow_version == 1
    assert stored.status == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS
