"""Bad input gets a precise status and a message a person can act on, and
leaves the database exactly as it was."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest

from stepline import RunnerClient, SteplineError, WorkflowBuilder
from stepline.limits import MAX_MESSAGE_BYTES
from stepline.v1 import runner_pb2, workflow_pb2
from tests.executors.stages import Token
from tests.support.cluster import Cluster, cluster_fixture
from tests.support.processes import closed_address
from tests.support.runs import stage_loop

pytestmark = pytest.mark.asyncio(loop_scope="module")

# One cluster for the module: each case compares the database before and after.
cluster = cluster_fixture("stages", "stages", scope="module")

Call = Callable[[RunnerClient, Cluster], Awaitable[Any]]


async def unknown_workflow(client: RunnerClient, cluster: Cluster) -> Any:
    return await client.start_run("no-such-workflow", Token(1, 0, 3))


async def unknown_run(client: RunnerClient, cluster: Cluster) -> Any:
    return await client.get_run("no-such-run")


async def watch_unknown_run(client: RunnerClient, cluster: Cluster) -> Any:
    return [e async for e in client.watch("no-such-run")]


async def cancel_unknown_run(client: RunnerClient, cluster: Cluster) -> Any:
    return await client.cancel_run("no-such-run")


async def unknown_checkpoint(client: RunnerClient, cluster: Cluster) -> Any:
    return await client.resume("no-such-checkpoint")


async def edge_to_undefined_executor(client: RunnerClient, cluster: Cluster) -> Any:
    definition = stage_loop("broken", cluster.addresses)
    definition.edges.add().direct.CopyFrom(
        workflow_pb2.DirectEdge(source_id="c", target_id="ghost")
    )
    return await client.register_workflow(definition)


async def input_of_wrong_type(client: RunnerClient, cluster: Cluster) -> Any:
    return await client.start_run("chain", "a plain string")


async def endpoint_not_answering(client: RunnerClient, cluster: Cluster) -> Any:
    definition = (
        WorkflowBuilder("unreachable")
        .add_executor("a", closed_address(), type="stage")
        .set_start_executor("a")
        .build()
    )
    return await client.register_workflow(definition)


async def bad_page_token(client: RunnerClient, cluster: Cluster) -> Any:
    return await client._call(
        client._stub.ListRuns, runner_pb2.ListRunsRequest(page_token="garbage!")
    )


async def oversized_input(client: RunnerClient, cluster: Cluster) -> Any:
    return await client.start_run("chain", "x" * (MAX_MESSAGE_BYTES + 1))


async def bad_run_id(client: RunnerClient, cluster: Cluster) -> Any:
    return await client.start_run("chain", Token(1, 0, 3), run_id="no spaces/or slashes")


CASES: list[tuple[Call, grpc.StatusCode, str]] = [
    (unknown_workflow, grpc.StatusCode.NOT_FOUND, "no-such-workflow"),
    (unknown_run, grpc.StatusCode.NOT_FOUND, "no-such-run"),
    (watch_unknown_run, grpc.StatusCode.NOT_FOUND, "no-such-run"),
    (cancel_unknown_run, grpc.StatusCode.NOT_FOUND, "no-such-run"),
    (unknown_checkpoint, grpc.StatusCode.NOT_FOUND, "no-such-checkpoint"),
    (edge_to_undefined_executor, grpc.StatusCode.INVALID_ARGUMENT, "'ghost'"),
    (input_of_wrong_type, grpc.StatusCode.INVALID_ARGUMENT, "takes Token"),
    (endpoint_not_answering, grpc.StatusCode.FAILED_PRECONDITION, "is unreachable"),
    (bad_page_token, grpc.StatusCode.INVALID_ARGUMENT, "page_token"),
    (bad_run_id, grpc.StatusCode.INVALID_ARGUMENT, "run_id"),
    (oversized_input, grpc.StatusCode.RESOURCE_EXHAUSTED, "larger than max"),
]


@pytest.mark.parametrize(("call", "code", "mentions"), CASES, ids=[c[0].__name__ for c in CASES])
async def test_bad_input_is_refused_and_changes_nothing(
    cluster: Cluster, call: Call, code: grpc.StatusCode, mentions: str
) -> None:
    client = cluster.client()
    await client.register_workflow(stage_loop("chain", cluster.addresses))
    await client.run("chain", Token(value=1, hops=0, limit=3))
    before = cluster.dump()

    with pytest.raises(SteplineError) as refused:
        await call(client, cluster)

    assert refused.value.code == code, str(refused.value)
    assert mentions in str(refused.value)
    assert cluster.dump() == before
