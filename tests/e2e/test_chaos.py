"""The chaos suite: SIGKILL the runner, or an executor service, at random
moments of a 50-superstep run; every run must finish by itself exactly as an
uninterrupted run does."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from stepline import RunFailedError, RunnerClient, RunResult, payloads
from stepline.v1 import events_pb2 as E
from tests.executors.stages import Token
from tests.support.cluster import Cluster, cluster_fixture
from tests.support.runs import assert_exact_log, stage_loop, until_superstep

STEPS = 50
TRIALS = 20
SEED = int(os.environ.get("STEPLINE_CHAOS_SEED", "20261130"))


RETRYING = ("--executor-retries", "3", "--retry-backoff", "0.05")

# Every service comes back at the address the workflow names after a kill.
chaos = cluster_fixture("stages", "stages", "stages", fixed_ports=True)
impatient = cluster_fixture("stages", "stages", "stages", fixed_ports=True, runner_options=RETRYING)


async def connect(cluster: Cluster) -> RunnerClient:
    client = cluster.client()
    await client.register_workflow(stage_loop("chaos", cluster.addresses, STEPS + 10))
    return client


TOKEN = Token(value=11, hops=0, limit=STEPS, delay_ms=3)


async def final(client: RunnerClient, result: RunResult) -> tuple[list[Any], dict[str, Any]]:
    states = await client.get_checkpoint_states(result.run.latest_checkpoint_id)
    return [payloads.json_value(p) for p in result.outputs], states


def check_log(result: RunResult) -> None:
    assert_exact_log(result.events)
    assert result.run.status == E.RUN_STATUS_COMPLETED


Kill = Callable[[random.Random], Awaitable[None]]


async def survive(client: RunnerClient, rng: random.Random, kill: Kill) -> int:
    """Run TRIALS runs, `kill` striking each at a random moment; every run must
    end by itself exactly as an uninterrupted one. Returns the kills survived."""
    reference = await final(client, await client.run("chaos", TOKEN))
    survived = 0
    for _ in range(TRIALS):
        run = await client.start_run("chaos", TOKEN)
        await until_superstep(client, run.run_id, rng.randint(1, STEPS - 5))
        await asyncio.sleep(rng.random() * 0.005)  # chaos: land anywhere in the next superstep
        await kill(rng)
        result = await client.wait(run.run_id)
        check_log(result)
        assert await final(client, result) == reference
        survived += 1
    return survived


async def test_runs_survive_runner_kills_at_random_moments(
    chaos: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    client = await connect(chaos)

    async def kill_runner(rng: random.Random) -> None:
        await chaos.restart_runner()  # SIGKILL, then a new runner on the same file and port
        await client.wait_for_ready()

    survived = await survive(client, random.Random(SEED), kill_runner)

    with capsys.disabled():
        print(f"\nchaos: {survived} runner kills survived (seed {SEED})")
    assert survived == TRIALS


async def test_runs_survive_executor_kills_at_random_moments(
    chaos: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    async def kill_an_executor(rng: random.Random) -> None:
        await chaos.restart_executor(rng.randrange(3))

    survived = await survive(await connect(chaos), random.Random(SEED + 1), kill_an_executor)

    with capsys.disabled():
        print(f"\nchaos: {survived} executor kills survived (seed {SEED})")
    assert survived == TRIALS


async def test_an_executor_that_never_returns_fails_the_run_until_it_is_back(
    impatient: Cluster,
) -> None:
    client = await connect(impatient)
    reference = await final(client, await client.run("chaos", TOKEN))
    run = await client.start_run("chaos", TOKEN)
    await until_superstep(client, run.run_id, 10)
    await impatient.kill_executor(1)

    with pytest.raises(RunFailedError) as failed:
        await client.wait(run.run_id)
    assert "ExecutorUnavailable" in str(failed.value)
    assert f"127.0.0.1:{impatient.executors[1].port} did not come back" in str(failed.value)

    await impatient.start_executor(1)
    stored = await client.get_run(run.run_id)
    await client.resume(stored.latest_checkpoint_id)
    result = await client.wait(run.run_id, after=stored.last_sequence)
    assert await final(client, result) == reference
    # From the start, a watch goes past the failure the resume went on from.
    assert_exact_log([e async for e in client.watch(run.run_id)])
