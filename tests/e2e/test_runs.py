"""Runs across processes: a fan-in killed half-way, 200 runs at once, deadlines."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from stepline import RunFailedError, WorkflowBuilder
from stepline.v1 import workflow_pb2
from tests.executors.shapes import Job
from tests.support.cluster import Cluster, cluster_fixture
from tests.support.runs import until_superstep

pytestmark = pytest.mark.asyncio(loop_scope="module")


# Resumes are explicit here: the runner's own is tested elsewhere.
cluster = cluster_fixture("shapes", "shapes", scope="module", runner_options=["--no-auto-resume"])


def diamond(a: str, b: str) -> workflow_pb2.WorkflowDefinition:
    """src fans out to w1 (fast) and w2 -> r1 -> r2 -> r3 (slow); w1 and r3 fan in."""
    return (
        WorkflowBuilder("slow-diamond")
        .add_executor("src", a, type="source")
        .add_executor("w1", a, type="worker")
        .add_executor("w2", b, type="worker")
        .add_executor("r1", b, type="relay")
        .add_executor("r2", a, type="relay")
        .add_executor("r3", b, type="relay")
        .add_executor("j", a, type="join")
        .add_fan_out("src", ["w1", "w2"])
        .add_chain(["w2", "r1", "r2", "r3"])
        .add_fan_in(["w1", "r3"], "j")
        .set_start_executor("src")
        .build()
    )


def relay(
    workflow_id: str, outer: str, worker: str, execute_timeout: timedelta | None = None
) -> workflow_pb2.WorkflowDefinition:
    """src -> w -> out: a source and a leaf at `outer`, a worker at `worker`."""
    return (
        WorkflowBuilder(workflow_id)
        .add_executor("src", outer, type="source")
        .add_executor("w", worker, type="worker", execute_timeout=execute_timeout)
        .add_executor("out", outer, type="leaf")
        .add_chain(["src", "w", "out"])
        .set_start_executor("src")
        .build()
    )


async def test_fan_in_killed_with_a_partial_buffer_resumes_to_the_same_result(
    cluster: Cluster,
) -> None:
    client = cluster.client()
    await client.register_workflow(diamond(*cluster.addresses))
    reference = await client.run("slow-diamond", Job(5), output_type=dict)

    run = await client.start_run("slow-diamond", Job(5))
    await until_superstep(client, run.run_id, 2)
    await cluster.kill_all()

    await cluster.start_all()
    client = cluster.client()
    registered = await client.register_workflow(diamond(*cluster.addresses))
    await client.move_runs("slow-diamond", registered.version, [run.run_id])
    stored = await client.get_run(run.run_id)
    checkpoint = await client.get_checkpoint(stored.latest_checkpoint_id, include_content=True)
    (buffer,) = checkpoint.content.fan_in_buffers
    assert [m.source_id for m in buffer.messages] == ["w1"]
    await client.resume(stored.latest_checkpoint_id)
    resumed = await client.wait(run.run_id, output_type=dict)

    assert (
        resumed.outputs == reference.outputs == [{"batch": 1, "results": [["w1", 11], ["w2", 14]]}]
    )


async def test_two_hundred_concurrent_runs_give_their_own_results(cluster: Cluster) -> None:
    client = cluster.client()
    a, b = cluster.addresses
    await client.register_workflow(relay("double", a, b))

    results = await asyncio.gather(
        *(client.run("double", Job(i), output_type=dict) for i in range(200))
    )

    assert [r.outputs for r in results] == [
        [{"by": "out", "n": 2 * i + 1, "from": "w"}] for i in range(200)
    ]


async def test_an_execute_past_its_deadline_fails_the_run(cluster: Cluster) -> None:
    client = cluster.client()
    a, _ = cluster.addresses
    await client.register_workflow(
        relay("deadline", a, a, execute_timeout=timedelta(milliseconds=200))
    )

    with pytest.raises(RunFailedError) as failed:
        await client.run("deadline", Job(1, delay_ms=5000))

    assert "ExecuteDeadlineExceeded" in str(failed.value)
    assert "within 0.2s" in str(failed.value)
