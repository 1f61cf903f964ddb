"""The state returned with Execute over real gRPC: the same workflows on
services with the fast path on and off (STEPLINE_FAST_PATH), in Python and
in Node, give the same outputs and the same checkpoints, state bytes
included; a service killed and started again with the fast path changed
leaves its run as an uninterrupted one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from stepline import RunnerClient
from stepline.v1 import events_pb2 as E
from tests.executors.stages import Token
from tests.support.processes import (
    Service,
    on_free_port,
    require_node,
    start_executors,
    start_runner,
)
from tests.support.runs import assert_exact_log, latest_payloads, stage_loop, until_superstep

pytestmark = pytest.mark.asyncio(loop_scope="module")

PATHS = {"fast": {"STEPLINE_FAST_PATH": "on"}, "unary": {"STEPLINE_FAST_PATH": "off"}}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def services(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Service]]:
    """A runner, and a Python and a Node `stage` service on each path."""
    require_node()
    started: dict[str, Service] = {}
    try:
        for language, script in (("python", "stages"), ("node", "node_stages")):
            for path, env in PATHS.items():
                started[f"{language}-{path}"] = await start_executors(script, env)
        started["runner"] = await start_runner(tmp_path_factory.mktemp("fast") / "stepline.db")
        yield started
    finally:
        for service in started.values():
            await service.kill()


async def checkpoints(client: RunnerClient, run_id: str) -> list[tuple[int, dict[str, Any]]]:
    """Every checkpoint of the run: its superstep and stored states, as bytes."""
    seen = []
    async for checkpoint in client.list_checkpoints(run_id):
        full = await client.get_checkpoint(checkpoint.checkpoint_id, include_content=True)
        states = full.content.executor_states
        seen.append((checkpoint.superstep, {x: states[x].SerializeToString() for x in states}))
    return seen


@pytest.mark.parametrize("language", ["python", "node"])
async def test_both_paths_give_the_same_checkpoints(
    services: dict[str, Service], language: str
) -> None:
    token = Token(value=5, hops=0, limit=12)
    async with RunnerClient(services["runner"].address) as client:
        results = {}
        for path in PATHS:
            workflow_id = f"{language}-{path}"
            endpoint = services[workflow_id].address
            await client.register_workflow(stage_loop(workflow_id, [endpoint] * 3))
            run = await client.run(workflow_id, token, output_type=dict)
            assert run.run.status == E.RUN_STATUS_COMPLETED
            results[path] = (run.outputs, await checkpoints(client, run.run.run_id))

    assert results["fast"] == results["unary"]
    assert len(results["fast"][1]) == 13  # checkpoint 0 and one per superstep


@pytest.mark.parametrize(("before", "after"), [("fast", "unary"), ("unary", "fast")])
async def test_a_restart_that_changes_the_path_leaves_the_run_as_an_uninterrupted_one(
    services: dict[str, Service], before: str, after: str
) -> None:
    token = Token(value=7, hops=0, limit=30, delay_ms=20)

    async def start(port: int) -> Service:
        return await start_executors("stages", {**PATHS[before], "STEPLINE_PORT": str(port)})

    port, service = await on_free_port(start)
    try:
        async with RunnerClient(services["runner"].address) as client:
            reference_id = f"reference-{before}"
            endpoint = services["python-unary"].address
            await client.register_workflow(stage_loop(reference_id, [endpoint] * 3))
            reference = await client.run(reference_id, token, output_type=dict)

            workflow_id = f"restarted-{before}"
            await client.register_workflow(stage_loop(workflow_id, [service.address] * 3))
            run = await client.start_run(workflow_id, token)
            await until_superstep(client, run.run_id, 5)
            await service.kill()
            env = {**PATHS[after], "STEPLINE_PORT": str(port)}
            service = await start_executors("stages", env)
            resumed = await client.wait(run.run_id, output_type=dict)

            assert resumed.outputs == reference.outputs
            assert await latest_payloads(client, run.run_id) == await latest_payloads(
                client, reference.run.run_id
            )
            assert [e.kind for e in resumed.events].count(E.EVENT_KIND_ROLLBACK) == 1
            assert_exact_log(resumed.events)
    finally:
        await service.kill()
