"""A 3-executor chain over real gRPC, real processes and a real SQLite file."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

from stepline import RunnerClient, payloads
from stepline.v1 import events_pb2 as E
from tests.e2e.conftest import Cluster
from tests.executors.stages import Token


async def final_states(client: RunnerClient, run_id: str) -> dict[str, Any]:
    run = await client.get_run(run_id)
    checkpoint = await client.get_checkpoint(run.latest_checkpoint_id, include_content=True)
    return {x: payloads.json_value(p) for x, p in checkpoint.content.executor_states.items()}


async def test_chain_completes_with_a_checkpoint_per_superstep(cluster: Cluster) -> None:
    client = cluster.client()
    await client.register_workflow(cluster.chain())

    result = await client.run("chain", Token(value=7, hops=0, limit=6), output_type=dict)

    assert result.run.status == E.RUN_STATUS_COMPLETED
    assert len(result.outputs) == 1 and result.outputs[0]["by"] == "c"
    sequences = [e.sequence for e in result.events]
    assert sequences == list(range(1, len(sequences) + 1))
    started = [e.superstep for e in result.events if e.kind == E.EVENT_KIND_SUPERSTEP_STARTED]
    completed = [e for e in result.events if e.kind == E.EVENT_KIND_SUPERSTEP_COMPLETED]
    assert started == [c.superstep for c in completed] == [1, 2, 3, 4, 5, 6]
    checkpoints = await client.list_checkpoints(result.run.run_id)
    assert [c.superstep for c in checkpoints] == [0, 1, 2, 3, 4, 5, 6]
    assert [c.checkpoint_id for c in checkpoints[1:]] == [c.checkpoint_id for c in completed]
    states = await final_states(client, result.run.run_id)
    assert {x: s["count"] for x, s in states.items()} == {"a": 2, "b": 2, "c": 2}


async def test_resume_after_sigkill_of_runner_and_executors(cluster: Cluster) -> None:
    token = Token(value=3, hops=0, limit=24, delay_ms=40)
    client = cluster.client()
    await client.register_workflow(cluster.chain())
    reference = await client.run("chain", token, output_type=dict)
    reference_states = await final_states(client, reference.run.run_id)

    run = await client.start_run("chain", token)
    async for event in client.watch(run.run_id):
        if event.kind == E.EVENT_KIND_SUPERSTEP_COMPLETED and event.superstep >= 5:
            break
    await cluster.kill_all()
    killed_at, last_checkpoint = _stored(cluster, run.run_id)
    assert 5 <= killed_at < 24, "the kill must land mid-run"
    cluster.log.write_text("")

    await cluster.start_all()
    client = cluster.client()
    # The executors moved to new ports; the topology (and so the signature) is
    # the same. The restarted runner resumes the run by itself once they answer.
    await client.register_workflow(cluster.chain())
    resumed = await client.wait(run.run_id, output_type=dict)

    assert resumed.outputs == reference.outputs
    assert await final_states(client, run.run_id) == reference_states
    checkpoint = await client.get_checkpoint(last_checkpoint, include_content=True)
    saved = {x: payloads.json_value(p) for x, p in checkpoint.content.executor_states.items()}
    restored = {
        line["executor"]: line["state"]
        for line in map(json.loads, cluster.log.read_text().splitlines())
        if line["kind"] == "restore"
    }
    assert restored == saved
    sequences = [e.sequence for e in resumed.events]
    assert sequences == list(range(1, len(sequences) + 1))
    outputs = [e for e in resumed.events if e.kind == E.EVENT_KIND_OUTPUT]
    assert len(outputs) == 1
    resumes = [e for e in resumed.events if e.kind == E.EVENT_KIND_RUN_RESUMED]
    assert [e.checkpoint_id for e in resumes] == [last_checkpoint]


async def test_two_concurrent_runs_keep_executor_states_apart(cluster: Cluster) -> None:
    client = cluster.client()
    await client.register_workflow(cluster.chain())
    solo = {}
    for value in (1, 1000):
        result = await client.run("chain", Token(value=value, hops=0, limit=9))
        solo[value] = await final_states(client, result.run.run_id)

    together = await asyncio.gather(
        client.run("chain", Token(value=1, hops=0, limit=9, delay_ms=5)),
        client.run("chain", Token(value=1000, hops=0, limit=9, delay_ms=5)),
    )

    for value, result in zip((1, 1000), together, strict=True):
        assert await final_states(client, result.run.run_id) == solo[value]


def _stored(cluster: Cluster, run_id: str) -> tuple[int, str]:
    """The run's superstep and latest checkpoint as the database has them."""
    with sqlite3.connect(cluster.db) as db:
        row = db.execute(
            "SELECT superstep, latest_checkpoint_id FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
    return int(row[0]), str(row[1])


async def test_sigterm_shuts_the_runner_down_gracefully(cluster: Cluster) -> None:
    client = cluster.client()
    await client.register_workflow(cluster.chain())
    await client.run("chain", Token(value=1, hops=0, limit=3))

    assert await cluster.runner.terminate() == 0
