"""The chaos suite: SIGKILL the runner, or an executor service, at random
moments of a 50-superstep run; every run must finish by itself exactly as an
uninterrupted run does."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stepline import RunFailedError, RunnerClient, RunResult, WorkflowBuilder, payloads
from stepline.v1 import events_pb2 as E
from tests.executors.stages import Token
from tests.support.processes import Service, free_port, start_executors, start_runner

STEPS = 50
TRIALS = 20
SEED = int(os.environ.get("STEPLINE_CHAOS_SEED", "20261130"))


@dataclass
class Chaos:
    db: Path
    runner_port: int
    executor_ports: list[int]
    runner_options: tuple[str, ...]
    runner: Service | None = None
    executors: list[Service | None] | None = None
    client: RunnerClient | None = None

    async def start(self) -> RunnerClient:
        self.executors = [await self.start_executor(i) for i in range(3)]
        await self.restart_runner()
        assert self.client is not None
        a, b, c = (f"127.0.0.1:{p}" for p in self.executor_ports)
        await self.client.register_workflow(
            WorkflowBuilder("chaos", max_supersteps=STEPS + 10)
            .add_executor("a", a, type="stage")
            .add_executor("b", b, type="stage")
            .add_executor("c", c, type="stage")
            .add_chain(["a", "b", "c", "a"])
            .set_start_executor("a")
            .build()
        )
        return self.client

    async def start_executor(self, i: int) -> Service:
        return await start_executors("stages", {"STEPLINE_PORT": str(self.executor_ports[i])})

    async def restart_runner(self) -> None:
        if self.runner is not None:
            await self.runner.kill()
        self.runner = await start_runner(self.db, self.runner_port, *self.runner_options)
        if self.client is None:
            self.client = RunnerClient(self.runner.address)
        await self.client.wait_for_ready()

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.close()
        for service in [self.runner, *(self.executors or [])]:
            if service is not None:
                await service.kill()


@pytest.fixture
async def chaos(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Chaos]:
    options = getattr(request, "param", ())
    chaos = Chaos(tmp_path / "stepline.db", free_port(), [free_port() for _ in range(3)], options)
    try:
        yield chaos
    finally:
        await chaos.stop()


TOKEN = Token(value=11, hops=0, limit=STEPS, delay_ms=3)


async def final(client: RunnerClient, result: RunResult) -> tuple[list[Any], dict[str, Any]]:
    states = await client.get_checkpoint_states(result.run.latest_checkpoint_id)
    return [payloads.json_value(p) for p in result.outputs], states


def check_log(result: RunResult) -> None:
    sequences = [e.sequence for e in result.events]
    assert sequences == list(range(1, len(sequences) + 1))
    assert len([e for e in result.events if e.kind == E.EVENT_KIND_OUTPUT]) == 1
    assert result.run.status == E.RUN_STATUS_COMPLETED


async def until_superstep(client: RunnerClient, run_id: str, superstep: int) -> None:
    async for event in client.watch(run_id):
        if event.kind == E.EVENT_KIND_SUPERSTEP_COMPLETED and event.superstep >= superstep:
            return
    raise AssertionError(f"run {run_id} ended before superstep {superstep}")


Kill = Callable[[random.Random], Awaitable[None]]


async def survive(chaos: Chaos, rng: random.Random, kill: Kill) -> int:
    """Run TRIALS runs, `kill` striking each at a random moment; every run must
    end by itself exactly as an uninterrupted one. Returns the kills survived."""
    client = await chaos.start()
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
    chaos: Chaos, capsys: pytest.CaptureFixture[str]
) -> None:
    async def kill_runner(rng: random.Random) -> None:
        await chaos.restart_runner()  # SIGKILL, then a new runner on the same file and port

    survived = await survive(chaos, random.Random(SEED), kill_runner)

    with capsys.disabled():
        print(f"\nchaos: {survived} runner kills survived (seed {SEED})")
    assert survived == TRIALS


async def test_runs_survive_executor_kills_at_random_moments(
    chaos: Chaos, capsys: pytest.CaptureFixture[str]
) -> None:
    async def kill_an_executor(rng: random.Random) -> None:
        assert chaos.executors is not None
        victim = rng.randrange(3)
        service = chaos.executors[victim]
        assert service is not None
        await service.kill()
        chaos.executors[victim] = await chaos.start_executor(victim)

    survived = await survive(chaos, random.Random(SEED + 1), kill_an_executor)

    with capsys.disabled():
        print(f"\nchaos: {survived} executor kills survived (seed {SEED})")
    assert survived == TRIALS


@pytest.mark.parametrize(
    "chaos", [("--executor-retries", "3", "--retry-backoff", "0.05")], indirect=True
)
async def test_an_executor_that_never_returns_fails_the_run_until_it_is_back(
    chaos: Chaos,
) -> None:
    client = await chaos.start()
    assert chaos.executors is not None
    reference = await final(client, await client.run("chaos", TOKEN))
    run = await client.start_run("chaos", TOKEN)
    await until_superstep(client, run.run_id, 10)
    gone = chaos.executors[1]
    assert gone is not None
    await gone.kill()
    chaos.executors[1] = None

    with pytest.raises(RunFailedError) as failed:
        await client.wait(run.run_id)
    assert "ExecutorUnavailable" in str(failed.value)
    assert f"127.0.0.1:{chaos.executor_ports[1]} did not come back" in str(failed.value)

    chaos.executors[1] = await chaos.start_executor(1)
    stored = await client.get_run(run.run_id)
    await client.resume(stored.latest_checkpoint_id)
    result = await client.wait(run.run_id, after=stored.last_sequence)
    assert await final(client, result) == reference
    before = [e async for e in client.watch(run.run_id)]  # up to the failure
    log = before + result.events
    assert [e.sequence for e in log] == list(range(1, len(log) + 1))
    assert len([e for e in log if e.kind == E.EVENT_KIND_OUTPUT]) == 1
