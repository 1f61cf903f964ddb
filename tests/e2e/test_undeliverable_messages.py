"""Strict delivery against real processes: each cause of an undeliverable
message fails the run with an UndeliverableMessage error naming the source,
the payload type and why; a workflow that opts in drops it with a warning;
a condition naming an undefined identifier is refused at registration."""

from __future__ import annotations

import grpc
import pytest
import pytest_asyncio

from stepline import RunnerClient, WorkflowBuilder
from stepline.errors import InvalidArgumentError, RunFailedError
from stepline.v1 import events_pb2 as E
from tests.executors.shapes import Job
from tests.support.cluster import Cluster, cluster_fixture

pytestmark = pytest.mark.asyncio(loop_scope="module")

cluster = cluster_fixture("shapes", scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def client(cluster: Cluster) -> RunnerClient:
    return cluster.client()


def builder(cluster: Cluster, workflow_id: str, *, drop: bool = False) -> WorkflowBuilder:
    (address,) = cluster.addresses
    return (
        WorkflowBuilder(workflow_id, drop_undeliverable=drop)
        .add_executor("src", address, type="source")
        .add_executor("leaf", address, type="leaf")
        .add_executor("results", address, type="result-leaf")
        .set_start_executor("src")
    )


async def failure(client: RunnerClient, workflow_id: str, job: Job) -> str:
    """The run's error message, after checking it is an undeliverable message from src."""
    with pytest.raises(RunFailedError) as raised:
        await client.run(workflow_id, job)
    error = raised.value.error
    assert raised.value.status == E.RUN_STATUS_FAILED
    assert (error.type, error.executor_id) == ("UndeliverableMessage", "src")
    assert "message of type 'Job' from 'src' is undeliverable" in error.message
    return error.message


async def test_a_send_to_a_target_without_an_edge_fails_the_run(
    cluster: Cluster, client: RunnerClient
) -> None:
    await client.register_workflow(builder(cluster, "explicit").add_edge("src", "leaf").build())
    message = await failure(client, "explicit", Job(1, target="results"))
    assert "(no edge): no edge connects 'src' to its explicit target 'results'" in message


async def test_a_message_no_condition_lets_through_fails_the_run(
    cluster: Cluster, client: RunnerClient
) -> None:
    await client.register_workflow(
        builder(cluster, "nomatch").add_edge("src", "leaf", condition="message.n > 10").build()
    )
    assert (await client.run("nomatch", Job(30), output_type=dict)).outputs == [
        {"by": "leaf", "n": 30}
    ]
    assert "(no edge): no edge's condition held" in await failure(client, "nomatch", Job(3))


async def test_a_type_no_target_takes_fails_the_run(cluster: Cluster, client: RunnerClient) -> None:
    await client.register_workflow(builder(cluster, "types").add_edge("src", "results").build())
    message = await failure(client, "types", Job(7))
    assert "(not accepted by any target): 'results' takes Result" in message


async def test_a_condition_that_is_not_boolean_fails_the_run(
    cluster: Cluster, client: RunnerClient
) -> None:
    await client.register_workflow(
        builder(cluster, "intcond").add_edge("src", "leaf", condition="message.n").build()
    )
    message = await failure(client, "intcond", Job(4))
    assert "(condition not boolean): edges[0] (direct):" in message
    assert "the condition returned 4, not a boolean" in message


async def test_a_workflow_that_opts_in_drops_with_a_warning(
    cluster: Cluster, client: RunnerClient
) -> None:
    await client.register_workflow(
        builder(cluster, "lenient", drop=True).add_edge("src", "results").build()
    )
    result = await client.run("lenient", Job(7))
    assert result.run.status == E.RUN_STATUS_COMPLETED and result.outputs == []
    (warning,) = [e for e in result.events if e.kind == E.EVENT_KIND_WARNING]
    assert warning.executor_id == "src"
    assert "'Job' from 'src' is undeliverable (not accepted by any target)" in warning.message


async def test_an_undefined_identifier_is_refused_at_registration(
    cluster: Cluster, client: RunnerClient
) -> None:
    definition = (
        builder(cluster, "typo")
        .add_edge("src", "leaf", condition="message.kind == 'correct'")
        .add_edge("src", "leaf", condition="message.kind == correct")
    )
    with pytest.raises(InvalidArgumentError) as raised:
        await client.register_workflow(definition.build())
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    message = str(raised.value)
    assert message.startswith("edges[1] (direct): invalid CEL expression 'message.kind == correct'")
    assert "undefined identifier 'correct'" in message
