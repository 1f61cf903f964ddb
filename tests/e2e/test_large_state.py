"""A 64 MiB executor state works end to end; one over the cap fails clearly."""

from __future__ import annotations

import hashlib

import pytest
import pytest_asyncio

from stepline import RunFailedError, RunnerClient, WorkflowBuilder
from stepline.limits import MAX_STATE_BYTES
from tests.executors.big import Grow
from tests.support.cluster import Cluster, cluster_fixture

pytestmark = pytest.mark.asyncio(loop_scope="module")

MIB = 1024 * 1024

cluster = cluster_fixture("big", scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def client(cluster: Cluster) -> RunnerClient:
    client = cluster.client()
    await client.register_workflow(
        WorkflowBuilder("big")
        .add_executor("big", cluster.addresses[0])
        .add_edge("big", "big")
        .set_start_executor("big")
        .build()
    )
    return client


async def test_a_64_mib_state_round_trips(client: RunnerClient) -> None:
    size = 64 * MIB
    result = await client.run("big", Grow(size), output_type=str)
    checkpoints = [c async for c in client.list_checkpoints(result.run.run_id)]
    after_grow = checkpoints[1]  # superstep 1: the state is saved, 64 MiB

    fork = await client.resume(after_grow.checkpoint_id, fork=True)  # restores 64 MiB
    forked = await client.wait(fork.run_id, output_type=str)

    seed = hashlib.sha256(str(size).encode()).hexdigest()
    expected = hashlib.sha256((seed * (size // 64 + 1))[:size].encode()).hexdigest()
    assert result.outputs == forked.outputs == [expected]
    states = await client.get_checkpoint_states(after_grow.checkpoint_id)
    assert len(states["big"]["blob"]) == size


async def test_a_state_over_the_cap_fails_the_run_with_a_clear_error(
    client: RunnerClient,
) -> None:
    with pytest.raises(RunFailedError) as failed:
        await client.run("big", Grow(MAX_STATE_BYTES + MIB))

    assert "SaveCheckpointFailed" in str(failed.value)
    assert "over the cap" in str(failed.value)
