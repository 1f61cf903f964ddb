"""Human in the loop: requests for input that survive a runner restart."""

from __future__ import annotations

import grpc
import pytest
import pytest_asyncio

from stepline import SteplineError, payloads
from stepline.v1 import events_pb2 as E
from stepline.v1 import runner_pb2 as R
from tests.executors.approvals import Decision, Order, approve_workflow, two_keys_workflow
from tests.support.cluster import Cluster, cluster_fixture
from tests.support.runs import until_waiting

pytestmark = pytest.mark.asyncio(loop_scope="module")


# One runner for the module; it comes back at its address after a kill.
cluster = cluster_fixture("approvals", scope="module", fixed_ports=True)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def desk(cluster: Cluster) -> Cluster:
    """The cluster with the "approve" and "two-keys" workflows registered."""
    svc = cluster.addresses[0]
    client = cluster.client()
    await client.register_workflow(approve_workflow(svc))
    await client.register_workflow(two_keys_workflow(svc))
    return cluster


@pytest.mark.parametrize(("approved", "status"), [(True, "approved"), (False, "rejected")])
async def test_an_approval_waits_across_a_runner_restart(
    desk: Cluster, approved: bool, status: str
) -> None:
    client = desk.client()
    run = await client.start_run("approve", Order("o-1", 250))
    await until_waiting(client, run.run_id)
    (request,) = await client.list_pending_requests(run.run_id)
    assert request.executor_id == "boss" and request.response_type == "Decision"

    await desk.restart_runner()
    client = desk.client()
    await client.wait_for_ready()
    waiting = await client.get_run(run.run_id)
    assert waiting.status == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS
    await client.send_responses(run.run_id, {request.request_id: Decision(approved, "ann")})
    result = await client.wait(run.run_id, output_type=dict)

    assert result.outputs == [{"order": "o-1", "status": status, "by": "ann"}]
    asked = [e for e in result.events if e.kind == E.EVENT_KIND_REQUEST_INFO]
    assert [e.request.request_id for e in asked] == [request.request_id]
    (answer,) = [e for e in result.events if e.kind == E.EVENT_KIND_RESPONSE_RECEIVED]
    assert answer.request.request_id == request.request_id
    assert payloads.decode(answer.data, Decision) == Decision(approved, "ann")
    states = await client.get_checkpoint_states(result.run.latest_checkpoint_id)
    assert states["boss"] == {"asked": 1, "decisions": [approved]}


async def test_two_parallel_requests_answered_in_two_calls(desk: Cluster) -> None:
    client = desk.client()
    run = await client.start_run("two-keys", Order("o-2", 9000))
    await until_waiting(client, run.run_id)
    requests = {r.executor_id: r for r in await client.list_pending_requests(run.run_id)}
    assert sorted(requests) == ["finance", "legal"]

    after_first = await client.send_responses(
        run.run_id, {requests["legal"].request_id: Decision(True, "lee")}
    )
    assert after_first.status == E.RUN_STATUS_RUNNING_WITH_PENDING_REQUESTS
    await until_waiting(client, run.run_id, after_first.last_sequence)
    (left,) = await client.list_pending_requests(run.run_id)
    assert left.executor_id == "finance"
    await client.send_responses(run.run_id, {left.request_id: Decision(True, "fay")})
    result = await client.wait(run.run_id, output_type=dict)

    assert result.outputs == [
        {"order": "o-2", "approved": True, "by": ["finance:fay", "legal:lee"]}
    ]


async def test_bad_responses_get_precise_statuses(desk: Cluster) -> None:
    client = desk.client()
    run = await client.start_run("approve", Order("o-3", 1))
    await until_waiting(client, run.run_id)
    (request,) = await client.list_pending_requests(run.run_id)

    async def code_of(responses: dict[str, object], run_id: str = run.run_id) -> grpc.StatusCode:
        with pytest.raises(SteplineError) as refused:
            await client.send_responses(run_id, responses)
        return refused.value.code

    assert await code_of({"no-such-request": Decision(True, "x")}) == grpc.StatusCode.NOT_FOUND
    assert await code_of({request.request_id: "yes"}) == grpc.StatusCode.INVALID_ARGUMENT
    assert await code_of({}) == grpc.StatusCode.INVALID_ARGUMENT
    assert await code_of({"x": Decision(True, "x")}, "no-run") == grpc.StatusCode.NOT_FOUND

    await client.send_responses(run.run_id, {request.request_id: Decision(False, "bo")})
    await client.wait(run.run_id)

    # The run is over now, so it is not waiting; and that request was answered.
    assert (
        await code_of({request.request_id: Decision(True, "x")})
        == grpc.StatusCode.FAILED_PRECONDITION
    )

    second = await client.start_run("two-keys", Order("o-4", 1))
    await until_waiting(client, second.run_id)
    legal = next(
        r for r in await client.list_pending_requests(second.run_id) if r.executor_id == "legal"
    )
    answered = await client.send_responses(second.run_id, {legal.request_id: Decision(True, "lee")})
    await until_waiting(client, second.run_id, answered.last_sequence)
    assert (
        await code_of({legal.request_id: Decision(True, "lee")}, second.run_id)
        == grpc.StatusCode.FAILED_PRECONDITION
    )


async def test_a_fork_of_a_waiting_checkpoint_waits_without_asking_again(desk: Cluster) -> None:
    client = desk.client()
    run = await client.start_run("approve", Order("o-5", 5))
    await until_waiting(client, run.run_id)
    waiting = await client.get_run(run.run_id)

    fork = await client.resume(waiting.latest_checkpoint_id, fork=True)
    await until_waiting(client, fork.run_id)
    (request,) = await client.list_pending_requests(fork.run_id)
    await client.send_responses(fork.run_id, {request.request_id: Decision(True, "cy")})
    result = await client.wait(fork.run_id, output_type=dict)
    with pytest.raises(SteplineError) as again:
        await client.send_responses(fork.run_id, {request.request_id: Decision(True, "cy")})
    assert again.value.code == grpc.StatusCode.FAILED_PRECONDITION

    assert result.outputs == [{"order": "o-5", "status": "approved", "by": "cy"}]
    # Its log has the open request once, carried over from the checkpoint: no
    # executor asked again.
    asked = [e.request.request_id for e in result.events if e.kind == E.EVENT_KIND_REQUEST_INFO]
    assert asked == [request.request_id]
    original = await client.get_run(run.run_id)
    assert original.status == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS


async def test_open_requests_come_a_page_at_a_time(desk: Cluster) -> None:
    client = desk.client()
    run = await client.start_run("two-keys", Order("o-6", 9000))
    await until_waiting(client, run.run_id)

    async def page(size: int, token: str = "") -> R.ListPendingRequestsResponse:
        request = R.ListPendingRequestsRequest(run_id=run.run_id, page_size=size, page_token=token)
        return await client._call(client._stub.ListPendingRequests, request)

    everything = await page(0)  # the default page holds both (asked in one superstep)
    assert sorted(r.executor_id for r in everything.requests) == ["finance", "legal"]
    assert everything.next_page_token == ""
    first = await page(1)
    assert list(first.requests) == [everything.requests[0]] and first.next_page_token
    second = await page(1, first.next_page_token)
    assert list(second.requests) == [everything.requests[1]] and second.next_page_token == ""
    assert await client.list_pending_requests(run.run_id, page_size=1) == list(everything.requests)
    assert await client.list_pending_requests(run.run_id, limit=1) == [everything.requests[0]]

    for size, token, says in [
        (-1, "", "page_size must be 0 or more"),
        (1, "garbage!" * 100, "is not one this runner issued"),
    ]:
        with pytest.raises(SteplineError) as refused:
            await page(size, token)
        assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert says in str(refused.value) and len(str(refused.value)) < 300

    # The first page's last request answered before the next page is asked for:
    # the next page starts at its superstep's first open request, skipping none.
    await client.send_responses(run.run_id, {first.requests[0].request_id: Decision(True, "fay")})
    after = await page(1, first.next_page_token)
    assert list(after.requests) == [everything.requests[1]]
