"""Chaos on PostgreSQL: three runner processes share a database and drive 30
runs at once while runners are SIGKILLed (and restarted) and SIGSTOPped past
their lease (then SIGCONTed) at random. Every run must end exactly as an
uninterrupted run does; whatever a superseded runner tried afterwards was
refused (the runners' and executors' logs say how often). Executors seldom
refuse one: with the state returned with Execute, a superseded runner's next
step after its Execute is its commit, which the store refuses first (then
it lets go); the executors' refusals are tested in tests/unit/test_fencing.py."""

from __future__ import annotations

import asyncio
import os
import random
import signal
from pathlib import Path
from typing import Any

import pytest

from stepline import RunnerClient, RunResult, payloads
from stepline.testing import Service, start_executor_service, start_runner
from stepline.v1 import events_pb2 as E
from tests.executors.stages import Token
from tests.support.postgres import TemporaryPostgres
from tests.support.processes import ROOT
from tests.support.runs import assert_exact_log, stage_loop

LEASE = 1.0
RUNS = 30
KILLS = 20
PAUSES = 5
STEPS = 60
TOKEN = Token(value=7, hops=0, limit=STEPS, delay_ms=100)
SEED = int(os.environ.get("STEPLINE_CHAOS_SEED", "20261201"))
STAGES = ROOT / "tests" / "executors" / "stages.py"


class Cluster:
    """Three runner slots on one database; each slot's processes log to one file."""

    def __init__(self, store: str, tmp: Path) -> None:
        self.store = store
        self.tmp = tmp
        self.runners: list[Service | None] = [None, None, None]
        self.clients: list[RunnerClient] = []

    async def start(self, slot: int) -> None:
        self.runners[slot] = await start_runner(
            self.store, 0, "--lease-seconds", str(LEASE), log=self.log(slot), cwd=ROOT
        )

    def log(self, slot: int) -> Path:
        return self.tmp / f"runner-{slot}.log"

    def client(self, slot: int) -> RunnerClient:
        service = self.runners[slot]
        assert service is not None
        client = RunnerClient(service.address)
        self.clients.append(client)
        return client

    async def kill(self, slot: int) -> None:
        service = self.runners[slot]
        assert service is not None
        await service.kill()
        await self.start(slot)

    async def pause(self, slot: int) -> None:
        service = self.runners[slot]
        assert service is not None
        service.process.send_signal(signal.SIGSTOP)
        await asyncio.sleep(LEASE * 1.6)  # chaos: past its lease, so others take over
        service.process.send_signal(signal.SIGCONT)

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        for service in self.runners:
            if service is not None:
                service.process.send_signal(signal.SIGCONT)
                await service.kill()


async def final(client: RunnerClient, result: RunResult) -> tuple[list[Any], dict[str, Any]]:
    states = await client.get_checkpoint_states(result.run.latest_checkpoint_id)
    return [payloads.json_value(p) for p in result.outputs], states


def lines(path: Path, text: str) -> int:
    return sum(text in line for line in path.read_text(errors="replace").splitlines())


async def test_runs_survive_kills_and_pauses_of_three_runners(
    postgres_server: TemporaryPostgres, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(SEED)
    executor_logs = [tmp_path / "stages-0.log", tmp_path / "stages-1.log"]
    services = [await start_executor_service(STAGES, log=p, cwd=ROOT) for p in executor_logs]
    cluster = Cluster(postgres_server.new_database(), tmp_path)
    try:
        for slot in range(3):
            await cluster.start(slot)
        first = cluster.client(0)
        addresses = [s.address for s in services]
        await first.register_workflow(stage_loop("chaos", addresses, STEPS + 10))
        expected = await final(first, await first.run("chaos", Token(7, 0, STEPS, 0)))
        runs = [await cluster.client(i % 3).start_run("chaos", TOKEN) for i in range(RUNS)]

        actions = ["kill"] * KILLS + ["pause"] * PAUSES
        rng.shuffle(actions)
        for action in actions:
            slot = rng.randrange(3)
            await (cluster.kill(slot) if action == "kill" else cluster.pause(slot))
            await asyncio.sleep(rng.uniform(0.1, 0.6))  # chaos: strike at a random moment

        watcher = cluster.client(rng.randrange(3))
        results = await asyncio.gather(*(watcher.wait(r.run_id) for r in runs))
        for result in results:
            assert result.run.status == E.RUN_STATUS_COMPLETED
            assert_exact_log(result.events)  # contiguous, each output once
            assert await final(watcher, result) == expected
        takeovers = sum(r.run.epoch - 1 for r in results)
        let_go = sum(lines(cluster.log(s), "let go") for s in range(3))
        let_go += sum(lines(cluster.log(s), "letting go") for s in range(3))
        refused = sum(lines(p, "refused a stale call") for p in executor_logs)
        with capsys.disabled():
            print(
                f"\nlease chaos: {RUNS} runs, {KILLS} kills, {PAUSES} pauses, {takeovers} "
                f"takeovers; superseded runners let go {let_go} times, executors refused "
                f"{refused} stale calls (seed {SEED})"
            )
        assert takeovers >= KILLS // 2
    finally:
        await cluster.close()
        for service in services:
            await service.kill()
