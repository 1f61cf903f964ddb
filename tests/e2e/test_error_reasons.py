"""Against a real runner process: each refusal carries its machine-readable
reason (and the ids involved), and a failed run its structured error."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, cast

import grpc
import pytest
import pytest_asyncio
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from stepline import Reason, RunFailedError, RunnerClient, SteplineError, WorkflowBuilder
from stepline.v1 import events_pb2 as E
from stepline.v1 import runner_pb2, runner_pb2_grpc
from tests.executors.approvals import Decision, Order, approve_workflow, two_keys_workflow
from tests.executors.stages import Token
from tests.support.cluster import Cluster, cluster_fixture
from tests.support.processes import closed_address
from tests.support.runs import until_waiting

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Desk:
    client: RunnerClient
    service: str  # the executor service's address
    runner: str

    async def until_waiting(self, run_id: str, after: int = 0) -> None:
        await until_waiting(self.client, run_id, after)


cluster = cluster_fixture("faults", scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def desk(cluster: Cluster) -> Desk:
    client = cluster.client()
    svc = cluster.addresses[0]
    for definition in (
        approve_workflow(svc),
        two_keys_workflow(svc),
        WorkflowBuilder("slow")
        .add_executor("s", svc, type="stage")
        .set_start_executor("s")
        .build(),
        WorkflowBuilder("boom")
        .add_executor("intake", svc)
        .add_executor("blow", svc, type="boom")
        .add_edge("intake", "blow")
        .set_start_executor("intake")
        .build(),
    ):
        await client.register_workflow(definition)
    return Desk(client, svc, cluster.runner.address)


async def refusal(call: Awaitable[Any]) -> SteplineError:
    with pytest.raises(SteplineError) as refused:
        await call
    return refused.value


async def test_answers_are_refused_each_with_its_own_reason(desk: Desk) -> None:
    client = desk.client
    run = await client.start_run("two-keys", Order("o-1", 10))
    await desk.until_waiting(run.run_id)
    legal, finance = sorted(
        await client.list_pending_requests(run.run_id), key=lambda r: r.executor_id != "legal"
    )

    unknown = await refusal(client.send_responses(run.run_id, {"nope": Decision(True, "x")}))
    assert (unknown.code, unknown.reason) == (grpc.StatusCode.NOT_FOUND, Reason.REQUEST_NOT_FOUND)
    assert unknown.metadata == {"run_id": run.run_id, "request_id": "nope"}

    wrong = await refusal(client.send_responses(run.run_id, {legal.request_id: "yes"}))
    assert (wrong.code, wrong.reason) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        Reason.RESPONSE_TYPE_MISMATCH,
    )
    empty = await refusal(client.send_responses(run.run_id, {}))
    assert empty.reason == Reason.NO_RESPONSES

    answered = await client.send_responses(run.run_id, {legal.request_id: Decision(True, "lee")})
    await desk.until_waiting(run.run_id, answered.last_sequence)
    again = await refusal(
        client.send_responses(run.run_id, {legal.request_id: Decision(True, "l")})
    )
    assert (again.code, again.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        Reason.ALREADY_ANSWERED,
    )
    assert again.metadata["request_id"] == legal.request_id

    await client.send_responses(run.run_id, {finance.request_id: Decision(True, "fin")})
    await client.wait(run.run_id)
    late = await refusal(
        client.send_responses(run.run_id, {finance.request_id: Decision(True, "")})
    )
    assert (late.code, late.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        Reason.NOT_WAITING_FOR_INPUT,
    )
    assert late.metadata == {"run_id": run.run_id, "status": "RUN_STATUS_COMPLETED"}


async def test_run_control_refusals_name_their_cause(desk: Desk) -> None:
    client = desk.client
    # One hop of a minute: the run is surely still in its first superstep.
    active = await client.start_run("slow", Token(1, 0, 2, delay_ms=60_000))
    busy = await refusal(client.resume(active.latest_checkpoint_id))
    assert (busy.code, busy.reason) == (grpc.StatusCode.FAILED_PRECONDITION, Reason.RUN_ACTIVE)
    assert busy.metadata == {"run_id": active.run_id}
    await client.cancel_run(active.run_id)

    run = await client.start_run("slow", Token(1, 0, 1))
    finished = (await client.wait(run.run_id)).run
    assert finished.status == E.RUN_STATUS_COMPLETED

    completed = await refusal(client.resume(finished.latest_checkpoint_id))
    assert completed.reason == Reason.RUN_COMPLETED
    ended = await refusal(client.cancel_run(run.run_id))
    assert (ended.reason, ended.metadata["status"]) == (Reason.RUN_ENDED, "RUN_STATUS_COMPLETED")
    latest = await refusal(client.delete_checkpoint(finished.latest_checkpoint_id))
    assert latest.reason == Reason.LATEST_CHECKPOINT
    assert latest.metadata == {"run_id": run.run_id, "checkpoint_id": finished.latest_checkpoint_id}

    # Another graph under the same workflow id: the old checkpoints do not fit it.
    await client.register_workflow(
        WorkflowBuilder("slow")
        .add_executor("s", desk.service, type="stage")
        .add_executor("t", desk.service, type="stage")
        .add_edge("s", "t")
        .set_start_executor("s")
        .build()
    )
    changed = await refusal(client.resume(finished.latest_checkpoint_id, fork=True))
    assert (changed.code, changed.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        Reason.GRAPH_CHANGED,
    )
    assert changed.metadata["workflow_id"] == "slow"


async def test_lookups_and_bad_fields_name_their_cause(desk: Desk) -> None:
    client = desk.client
    no_run = await refusal(client.get_run("no-such-run"))
    assert (no_run.reason, no_run.metadata) == (Reason.RUN_NOT_FOUND, {"run_id": "no-such-run"})
    no_workflow = await refusal(client.start_run("no-such-workflow", Order("o", 1)))
    assert no_workflow.reason == Reason.WORKFLOW_NOT_FOUND
    no_checkpoint = await refusal(client.get_checkpoint("no-such-checkpoint"))
    assert no_checkpoint.reason == Reason.CHECKPOINT_NOT_FOUND

    bad_id = await refusal(client.start_run("approve", Order("o", 1), run_id="not ok!"))
    assert (bad_id.code, bad_id.reason) == (grpc.StatusCode.INVALID_ARGUMENT, Reason.INVALID_ID)
    assert bad_id.metadata == {"field": "run_id"}
    wrong_input = await refusal(client.start_run("approve", Decision(True, "x")))
    assert wrong_input.reason == Reason.INPUT_TYPE_MISMATCH


async def test_a_plain_grpc_client_reads_the_reason_with_grpcio_status(desk: Desk) -> None:
    async with grpc.aio.insecure_channel(desk.runner) as channel:
        stub = runner_pb2_grpc.RunnerServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ListRuns(runner_pb2.ListRunsRequest(page_token="garbage"))

    # An AioRpcError answers what from_call asks of a call (code, details, trailers).
    status = rpc_status.from_call(cast(grpc.Call, refused.value))  # checks they agree
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert (info.domain, info.reason) == ("stepline.dev", "INVALID_PAGE_TOKEN")


async def test_registration_refusals_name_their_cause(desk: Desk) -> None:
    client = desk.client
    malformed = await refusal(
        client.register_workflow(
            WorkflowBuilder("bad").add_executor("a", desk.service, type="stage").build()
        )
    )
    assert (malformed.code, malformed.reason) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        Reason.INVALID_WORKFLOW,
    )
    nowhere = closed_address()
    unreachable = await refusal(
        client.register_workflow(
            WorkflowBuilder("away").add_executor("a", nowhere).set_start_executor("a").build()
        )
    )
    assert (unreachable.reason, unreachable.metadata["endpoint"]) == (
        Reason.EXECUTOR_SERVICE_UNREACHABLE,
        nowhere,
    )
    not_hosted = await refusal(
        client.register_workflow(
            WorkflowBuilder("odd")
            .add_executor("a", desk.service, type="nonesuch")
            .set_start_executor("a")
            .build()
        )
    )
    assert not_hosted.reason == Reason.EXECUTOR_TYPE_NOT_HOSTED


async def test_a_failed_run_raises_its_structured_error(desk: Desk) -> None:
    with pytest.raises(RunFailedError) as failed:
        await desk.client.run("boom", Order("o-9", 1))

    error = failed.value.error
    assert failed.value.status == E.RUN_STATUS_FAILED
    assert (error.type, error.executor_id) == ("ValueError", "blow")
    assert error.message == "order o-9 cannot be processed"
    assert "raise ValueError" in error.traceback
    assert failed.value.run.run_id == failed.value.run_id
