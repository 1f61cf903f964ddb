"""A 3-executor chain over real gRPC, real processes and a real SQLite file."""

from __future__ import annotations

import asyncio

from stepline.v1 import events_pb2 as E
from tests.executors.stages import Token
from tests.support.cluster import Cluster
from tests.support.runs import assert_exact_log, latest_states, stage_loop, until_superstep


async def test_chain_completes_with_a_checkpoint_per_superstep(cluster: Cluster) -> None:
    client = cluster.client()
    await client.register_workflow(stage_loop("chain", cluster.addresses))

    result = await client.run("chain", Token(value=7, hops=0, limit=6), output_type=dict)

    assert result.run.status == E.RUN_STATUS_COMPLETED
    assert len(result.outputs) == 1 and result.outputs[0]["by"] == "c"
    sequences = [e.sequence for e in result.events]
    assert sequences == list(range(1, len(sequences) + 1))
    started = [e.superstep for e in result.events if e.kind == E.EVENT_KIND_SUPERSTEP_STARTED]
    completed = [e for e in result.events if e.kind == E.EVENT_KIND_SUPERSTEP_COMPLETED]
    assert started == [c.superstep for c in completed] == [1, 2, 3, 4, 5, 6]
    checkpoints = [c async for c in client.list_checkpoints(result.run.run_id)]
    assert [c.superstep for c in checkpoints] == [0, 1, 2, 3, 4, 5, 6]
    assert [c.checkpoint_id for c in checkpoints[1:]] == [c.checkpoint_id for c in completed]
    states = await latest_states(client, result.run.run_id)
    assert {x: s["count"] for x, s in states.items()} == {"a": 2, "b": 2, "c": 2}


async def test_resume_after_sigkill_of_runner_and_executors(cluster: Cluster) -> None:
    token = Token(value=3, hops=0, limit=24, delay_ms=40)
    client = cluster.client()
    await client.register_workflow(stage_loop("chain", cluster.addresses))
    reference = await client.run("chain", token, output_type=dict)
    reference_states = await latest_states(client, reference.run.run_id)

    run = await client.start_run("chain", token)
    await until_superstep(client, run.run_id, 5)
    await cluster.kill_all()
    killed_at, last_checkpoint = cluster.stored_run(run.run_id)
    assert 5 <= killed_at < 24, "the kill must land mid-run"

    await cluster.start_all()
    client = cluster.client()
    # The executors moved to new ports; the topology (and so the signature) is
    # the same. The run stays on its version until moved to the new one; the
    # restarted runner then resumes it by itself once they answer.
    registered = await client.register_workflow(stage_loop("chain", cluster.addresses))
    moves = await client.move_runs("chain", registered.version, [run.run_id])
    assert list(moves.moved_run_ids) == [run.run_id]
    resumed = await client.wait(run.run_id, output_type=dict)

    assert resumed.outputs == reference.outputs
    assert await latest_states(client, run.run_id) == reference_states
    saved = await client.get_checkpoint_states(last_checkpoint)
    restored = {
        line["executor"]: line["state"]
        for executor in cluster.executors
        for line in cluster.log(executor.name, incarnation=2)
        if line["kind"] == "restore"
    }
    assert restored == saved
    assert_exact_log(resumed.events)
    resumes = [e for e in resumed.events if e.kind == E.EVENT_KIND_RUN_RESUMED]
    assert [e.checkpoint_id for e in resumes] == [last_checkpoint]
    (move,) = [e for e in resumed.events if e.kind == E.EVENT_KIND_RUN_MOVED]
    assert move.workflow_version == registered.version == resumed.run.workflow_version == 2


async def test_two_concurrent_runs_keep_executor_states_apart(cluster: Cluster) -> None:
    client = cluster.client()
    await client.register_workflow(stage_loop("chain", cluster.addresses))
    solo = {}
    for value in (1, 1000):
        result = await client.run("chain", Token(value=value, hops=0, limit=9))
        solo[value] = await latest_states(client, result.run.run_id)

    together = await asyncio.gather(
        client.run("chain", Token(value=1, hops=0, limit=9, delay_ms=5)),
        client.run("chain", Token(value=1000, hops=0, limit=9, delay_ms=5)),
    )

    for value, result in zip((1, 1000), together, strict=True):
        assert await latest_states(client, result.run.run_id) == solo[value]


async def test_sigterm_shuts_the_runner_down_gracefully(cluster: Cluster) -> None:
    client = cluster.client()
    await client.register_workflow(stage_loop("chain", cluster.addresses))
    await client.run("chain", Token(value=1, hops=0, limit=3))

    assert await cluster.runner.terminate() == 0
