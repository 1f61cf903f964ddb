"""Runs across processes: a fan-in killed half-way, 200 runs at once, deadlines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from stepline import RunFailedError, RunnerClient, WorkflowBuilder
from stepline.v1 import events_pb2 as E
from tests.executors.shapes import Job
from tests.support.processes import Service, start_executors, start_runner


class Services:
    def __init__(self, db: Path) -> None:
        self.db = db
        self.executors: list[Service] = []
        self.runner: Service | None = None
        self.client: RunnerClient | None = None

    async def start(self) -> RunnerClient:
        self.executors = [await start_executors("shapes") for _ in range(2)]
        # Resumes are explicit here: the runner's own is tested elsewhere.
        self.runner = await start_runner(self.db, 0, "--no-auto-resume")
        self.client = RunnerClient(self.runner.address)
        return self.client

    async def kill(self) -> None:
        if self.client is not None:
            await self.client.close()
        for service in (*self.executors, *([self.runner] if self.runner else [])):
            await service.kill()

    def diamond(self) -> WorkflowBuilder:
        """src fans out to w1 (fast) and w2 -> r1 -> r2 -> r3 (slow); w1 and r3 fan in."""
        a, b = (s.address for s in self.executors)
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
        )


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    services = Services(tmp_path / "stepline.db")
    try:
        yield services
    finally:
        await services.kill()


async def test_fan_in_killed_with_a_partial_buffer_resumes_to_the_same_result(
    services: Services,
) -> None:
    client = await services.start()
    await client.register_workflow(services.diamond().build())
    reference = await client.run("slow-diamond", Job(5), output_type=dict)

    run = await client.start_run("slow-diamond", Job(5))
    async for event in client.watch(run.run_id):
        if event.kind == E.EVENT_KIND_SUPERSTEP_COMPLETED and event.superstep == 2:
            break
    await services.kill()

    client = await services.start()
    await client.register_workflow(services.diamond().build())
    stored = await client.get_run(run.run_id)
    checkpoint = await client.get_checkpoint(stored.latest_checkpoint_id, include_content=True)
    (buffer,) = checkpoint.content.fan_in_buffers
    assert [m.source_id for m in buffer.messages] == ["w1"]
    await client.resume(stored.latest_checkpoint_id)
    resumed = await client.wait(run.run_id, output_type=dict)

    assert (
        resumed.outputs == reference.outputs == [{"batch": 1, "results": [["w1", 11], ["w2", 14]]}]
    )


async def test_two_hundred_concurrent_runs_give_their_own_results(services: Services) -> None:
    client = await services.start()
    a, b = (s.address for s in services.executors)
    await client.register_workflow(
        WorkflowBuilder("double")
        .add_executor("src", a, type="source")
        .add_executor("w", b, type="worker")
        .add_executor("out", a, type="leaf")
        .add_chain(["src", "w", "out"])
        .set_start_executor("src")
        .build()
    )

    results = await asyncio.gather(
        *(client.run("double", Job(i), output_type=dict) for i in range(200))
    )

    assert [r.outputs for r in results] == [
        [{"by": "out", "n": 2 * i + 1, "from": "w"}] for i in range(200)
    ]


async def test_an_execute_past_its_deadline_fails_the_run(services: Services) -> None:
    client = await services.start()
    a, _ = (s.address for s in services.executors)
    await client.register_workflow(
        WorkflowBuilder("deadline")
        .add_executor("src", a, type="source")
        .add_executor("w", a, type="worker", execute_timeout=timedelta(milliseconds=200))
        .add_executor("out", a, type="leaf")
        .add_chain(["src", "w", "out"])
        .set_start_executor("src")
        .build()
    )

    with pytest.raises(RunFailedError) as failed:
        await client.run("deadline", Job(1, delay_ms=5000))

    assert "ExecuteDeadlineExceeded" in str(failed.value)
    assert "within 0.2s" in str(failed.value)
