"""`RunnerClient.run` and `wait` return when the run completes or waits for
input (the result says which, with its outputs and open requests), raise
`RunFailedError` when it fails or is cancelled, and `TimeoutError` when none
of this happens in time. Executors in separate processes."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio

from stepline import OpenRequest, RunFailedError, RunnerClient, WorkflowBuilder, payloads
from stepline.v1 import events_pb2 as E
from tests.executors.af_style import ApprovalRequest, LegalReview
from tests.support.cluster import Cluster, cluster_fixture

pytestmark = pytest.mark.asyncio(loop_scope="module")


cluster = cluster_fixture("af_style front", "af_style back", "run_outcomes", scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def client(cluster: Cluster) -> RunnerClient:
    client = cluster.client()
    front, back, outcomes = cluster.addresses
    for workflow in (
        WorkflowBuilder("publish")
        .add_executor("drafter", front)
        .add_executor("reviewer", back)
        .add_executor("publisher", front)
        .add_chain(["drafter", "reviewer", "publisher"])
        .set_start_executor("drafter"),
        WorkflowBuilder("boom").add_executor("boom", outcomes).set_start_executor("boom"),
        WorkflowBuilder("stall").add_executor("stall", outcomes).set_start_executor("stall"),
    ):
        await client.register_workflow(workflow.build())
    return client


async def test_run_returns_when_the_run_waits_for_input(client: RunnerClient) -> None:
    result = await client.run(
        "publish", "Two keys", request_types=[ApprovalRequest, LegalReview], timeout=60
    )

    assert result.waiting and result.status == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS
    assert result.outputs == []
    assert sorted((type(r.data).__name__, r.response_type) for r in result.requests) == [
        ("ApprovalRequest", "boolean"),
        ("LegalReview", "boolean"),
    ]
    by_type = {type(r.data): r for r in result.requests}
    assert by_type[ApprovalRequest].data == ApprovalRequest("Two keys", 2)
    assert all(r.executor_id == "reviewer" for r in result.requests)

    await client.send_responses(
        result.run.run_id,
        {by_type[ApprovalRequest].request_id: True, by_type[LegalReview].request_id: True},
    )
    done = await client.wait(result.run.run_id, output_type=str, timeout=60)

    # Not fooled by the wait still in the log: it returns at the end.
    assert done.status == E.RUN_STATUS_COMPLETED and not done.waiting
    assert done.outputs == ["Two keys: published (editor=True, legal=True)"]
    assert done.requests == []


async def test_requests_of_types_not_given_stay_payloads(client: RunnerClient) -> None:
    result = await client.run("publish", "Raw", request_types=[LegalReview])

    kinds = {r.data.__class__.__name__ for r in result.requests}
    assert kinds == {"LegalReview", "Payload"}
    (raw,) = [r for r in result.requests if isinstance(r.data, payloads.Payload)]
    assert isinstance(raw, OpenRequest) and raw.data.type_name == "ApprovalRequest"

    # Waiting again on a run that waits returns at once, with the same requests.
    again = await client.wait(result.run.run_id, timeout=60)
    assert again.waiting
    assert {r.request_id for r in again.requests} == {r.request_id for r in result.requests}


async def test_a_client_watching_a_fork_for_requests_sees_them(client: RunnerClient) -> None:
    source = await client.run("publish", "Forked", timeout=60)
    fork = await client.resume(source.run.latest_checkpoint_id, fork=True)

    seen: list[E.Event] = []
    watching = client.watch(fork.run_id, kinds=[E.EVENT_KIND_REQUEST_INFO])
    async for event in watching:
        seen.append(event)
        if len(seen) == len(source.requests):
            break
    await watching.aclose()  # type: ignore[attr-defined]

    assert sorted(e.request.request_id for e in seen) == sorted(
        r.request_id for r in source.requests
    )
    waiting = await client.wait(fork.run_id, timeout=60)
    assert waiting.waiting and len(waiting.requests) == 2


async def test_run_raises_when_the_run_fails(client: RunnerClient) -> None:
    with pytest.raises(RunFailedError) as caught:
        await client.run("boom", 7, timeout=60)

    assert caught.value.status == E.RUN_STATUS_FAILED
    assert caught.value.error.message == "boom at 7"


async def test_a_watch_from_the_start_goes_on_past_an_end_a_resume_went_on_from(
    client: RunnerClient,
) -> None:
    with pytest.raises(RunFailedError) as caught:
        await client.run("boom", 3, run_id="boom-twice", timeout=60)
    first = caught.value.run
    await client.resume(first.latest_checkpoint_id)
    with pytest.raises(RunFailedError) as again:
        await client.wait("boom-twice", after=first.last_sequence, timeout=60)

    events = [e async for e in client.watch("boom-twice")]

    ends = [e.sequence for e in events if e.status == E.RUN_STATUS_FAILED]
    assert ends == [first.last_sequence, again.value.run.last_sequence]
    assert [e.sequence for e in events] == list(range(1, ends[-1] + 1))


async def test_wait_raises_when_the_run_is_cancelled(client: RunnerClient) -> None:
    run = await client.start_run("stall", 1)
    waiting = asyncio.create_task(client.wait(run.run_id, timeout=60))

    await client.cancel_run(run.run_id)

    with pytest.raises(RunFailedError) as caught:
        await waiting
    assert caught.value.status == E.RUN_STATUS_CANCELLED


async def test_wait_and_run_give_up_after_their_timeout(client: RunnerClient) -> None:
    with pytest.raises(TimeoutError, match=r"neither ended nor waited for input within 0\.2 s"):
        await client.run("stall", 2, run_id="stalled", timeout=0.2)
    with pytest.raises(TimeoutError, match="it is RUN_STATUS_RUNNING"):
        await client.wait("stalled", timeout=0.2)

    await client.cancel_run("stalled")  # the run itself is untouched by a timeout
