"""A `Runner` on a real SQLite file with in-process executor hosts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from stepline import payloads
from stepline.executor import Executor
from stepline.host import ExecutorHost
from stepline.v1 import events_pb2, runner_pb2
from stepline_runner.engine.recovery import RetryPolicy
from stepline_runner.engine.runner import Runner
from stepline_runner.store import SqliteStore
from tests.unit.fakes import InProcessExecutors


class Harness:
    def __init__(self, runner: Runner, executors: InProcessExecutors) -> None:
        self.runner = runner
        self.executors = executors

    def host(self, endpoint: str, types: Mapping[str, type[Executor]]) -> ExecutorHost:
        host = self.executors.hosts[endpoint] = ExecutorHost(types)
        return host

    async def run(self, workflow_id: str, value: Any, run_id: str = "") -> list[events_pb2.Event]:
        run = await self.runner.start_run(workflow_id, payloads.encode(value), run_id)
        driver = self.runner.runs.task(run.run_id)
        events = await self.events(run.run_id)
        if driver is not None:
            await driver  # its clean-up (EndRun) follows the terminal event
        return events

    async def events(self, run_id: str, after_sequence: int = 0) -> list[events_pb2.Event]:
        """Every event the runner's watch yields, its batches flattened."""
        return [e async for b in self.runner.watch(run_id, after_sequence) for e in b]

    async def get_run(self, run_id: str) -> runner_pb2.Run:
        return await self.runner.get_run(run_id)


def of_kind(events: list[events_pb2.Event], kind: events_pb2.EventKind) -> list[events_pb2.Event]:
    return [e for e in events if e.kind == kind]


def outputs(events: list[events_pb2.Event]) -> list[Any]:
    return [payloads.json_value(e.data) for e in of_kind(events, events_pb2.EVENT_KIND_OUTPUT)]


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    store = await SqliteStore.open(tmp_path / "stepline.db")
    executors = InProcessExecutors({})
    runner = Runner(store, executors, retry=RetryPolicy(attempts=4, initial_backoff=0.001))
    try:
        yield Harness(runner, executors)
    finally:
        await runner.close()
        await store.close()
