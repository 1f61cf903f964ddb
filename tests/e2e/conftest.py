"""Fixtures that start the runner and executor services as separate processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from stepline import RunnerClient, WorkflowBuilder
from stepline.v1 import workflow_pb2
from tests.support.processes import Service, start_executors, start_runner


@dataclass
class Cluster:
    """A runner on a SQLite file and two `stages` executor services."""

    db: Path
    log: Path
    runner: Service
    executors: list[Service]
    clients: list[RunnerClient] = field(default_factory=list)

    def client(self) -> RunnerClient:
        client = RunnerClient(self.runner.address)
        self.clients.append(client)
        return client

    def chain(self, workflow_id: str = "chain") -> workflow_pb2.WorkflowDefinition:
        """a -> b -> c -> a, a and b in one process, c in the other."""
        first, second = self.executors
        return (
            WorkflowBuilder(workflow_id, max_supersteps=1000)
            .add_executor("a", first.address, type="stage")
            .add_executor("b", first.address, type="stage")
            .add_executor("c", second.address, type="stage")
            .add_chain(["a", "b", "c", "a"])
            .set_start_executor("a")
            .build()
        )

    async def kill_all(self) -> None:
        for service in (self.runner, *self.executors):
            await service.kill()

    async def start_all(self) -> None:
        env = {"STEPLINE_TEST_LOG": str(self.log)}
        self.executors = [await start_executors("stages", env) for _ in range(2)]
        self.runner = await start_runner(self.db)

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        await self.kill_all()


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    db, log = tmp_path / "stepline.db", tmp_path / "hooks.jsonl"
    env = {"STEPLINE_TEST_LOG": str(log)}
    executors = [await start_executors("stages", env) for _ in range(2)]
    cluster = Cluster(db, log, await start_runner(db), executors)
    try:
        yield cluster
    finally:
        await cluster.close()
