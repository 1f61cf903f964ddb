"""A 64 MiB executor state works end to end; one over the cap fails clearly."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stepline import RunFailedError, RunnerClient, WorkflowBuilder
from stepline.limits import MAX_STATE_BYTES
from tests.executors.big import Grow
from tests.support.processes import Service, start_executors, start_runner

MIB = 1024 * 1024


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[RunnerClient]:
    services: list[Service] = [await start_executors("big"), await start_runner(tmp_path / "db")]
    client = RunnerClient(services[1].address)
    await client.register_workflow(
        WorkflowBuilder("big")
        .add_executor("big", services[0].address)
        .add_edge("big", "big")
        .set_start_executor("big")
        .build()
    )
    try:
        yield client
    finally:
        await client.close()
        for service in services:
            await service.kill()


async def test_a_64_mib_state_round_trips(client: RunnerClient) -> None:
    size = 64 * MIB
    result = await client.run("big", Grow(size), output_type=str)
    checkpoints = await client.list_checkpoints(result.run.run_id)
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
