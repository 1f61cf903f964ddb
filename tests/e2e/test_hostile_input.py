"""Oversized and control-character ids, and definitions over the caps, are
refused with INVALID_ARGUMENT and a message that quotes only a short prefix
of what was sent; nothing is stored."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest

from stepline import RunnerClient, SteplineError, WorkflowBuilder, payloads
from stepline.v1 import runner_pb2
from tests.executors.stages import Token
from tests.support.cluster import Cluster, cluster_fixture
from tests.support.runs import stage_loop

pytestmark = pytest.mark.asyncio(loop_scope="module")

cluster = cluster_fixture("stages", scope="module")

Call = Callable[[RunnerClient, Cluster], Awaitable[Any]]
HUGE = "w" * 1_000_000


def one_stage(workflow_id: str, executor_id: str, endpoint: str) -> Any:
    return (
        WorkflowBuilder(workflow_id)
        .add_executor(executor_id, endpoint, type="stage")
        .set_start_executor(executor_id)
        .build()
    )


async def megabyte_workflow_id(client: RunnerClient, cluster: Cluster) -> Any:
    return await client.register_workflow(one_stage(HUGE, "a", cluster.addresses[0]))


async def executor_id_with_nul(client: RunnerClient, cluster: Cluster) -> Any:
    return await client.register_workflow(one_stage("w", "a\x00b", cluster.addresses[0]))


async def executor_id_with_right_to_left_override(client: RunnerClient, cluster: Cluster) -> Any:
    return await client.register_workflow(one_stage("w", "gnp.\u202eexe", cluster.addresses[0]))


async def too_many_executors(client: RunnerClient, cluster: Cluster) -> Any:
    builder = WorkflowBuilder("wide")
    for i in range(1001):
        builder.add_executor(f"x{i}", cluster.addresses[0], type="stage")
    return await client.register_workflow(builder.set_start_executor("x0").build())


async def long_run_id_lookup(client: RunnerClient, cluster: Cluster) -> Any:
    return await client.get_run("r" * 70_000)


async def long_workflow_id_lookup(client: RunnerClient, cluster: Cluster) -> Any:
    return await client._call(
        client._stub.GetWorkflow, runner_pb2.GetWorkflowRequest(workflow_id="w" * 70_000)
    )


async def long_checkpoint_id(client: RunnerClient, cluster: Cluster) -> Any:
    return await client.resume("c" * 70_000)


async def control_character_request_id(client: RunnerClient, cluster: Cluster) -> Any:
    return await client.send_responses("r1", {"req\x1b[2J": Token(1, 0, 1)})


async def huge_input_type_name(client: RunnerClient, cluster: Cluster) -> Any:
    payload = payloads.encode(Token(1, 0, 3))
    payload.type_name = "T" * 100_000
    return await client.start_run("chain", payload)


CASES: list[tuple[Call, str]] = [
    (megabyte_workflow_id, "workflow_id 'wwww"),
    (executor_id_with_nul, "printable ASCII"),
    (executor_id_with_right_to_left_override, "printable ASCII"),
    (too_many_executors, "1001 executors, over the cap of 1000"),
    (long_run_id_lookup, "run_id 'rrrr"),
    (long_workflow_id_lookup, "longer than 128 characters"),
    (long_checkpoint_id, "longer than 128 characters"),
    (control_character_request_id, "request id"),
    (huge_input_type_name, "input: type_name 'TTTT"),
]


@pytest.mark.parametrize(("call", "mentions"), CASES, ids=[c[0].__name__ for c in CASES])
async def test_hostile_ids_and_definitions_are_refused_in_a_few_words(
    cluster: Cluster, call: Call, mentions: str
) -> None:
    client = cluster.client()
    await client.register_workflow(stage_loop("chain", cluster.addresses * 2))
    await client.run("chain", Token(1, 0, 3), run_id="r1")
    before = cluster.dump()

    with pytest.raises(SteplineError) as refused:
        await call(client, cluster)

    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT, str(refused.value)[:300]
    assert mentions in str(refused.value)
    assert len(str(refused.value)) < 400  # a prefix of the id, not the id
    assert cluster.dump() == before
