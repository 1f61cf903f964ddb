"""SIGKILL the runner while a superstep's commit is still under way and the
next superstep's Execute already runs (the two overlap): the run resumes from
the checkpoint before, its executor restored to it, and ends exactly as an
uninterrupted run does. Real processes: the runner, one executor service,
the SQLite file, whose write lock the executor takes to hold that commit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stepline import RunResult, WorkflowBuilder, payloads
from stepline.v1 import events_pb2 as E
from tests.executors.stages import Token
from tests.support.cluster import Cluster
from tests.support.runs import assert_exact_log
from tests.support.waiting import until

LOCK_AT = 3  # the Execute of superstep 4 (hop 3) holds superstep 4's commit
TOKEN = Token(value=11, hops=0, limit=8)


def held_loop(endpoint: str) -> Any:
    return (
        WorkflowBuilder("held", max_supersteps=20)
        .add_executor("a", endpoint, type="held")
        .add_edge("a", "a")
        .set_start_executor("a")
        .build()
    )


async def final(cluster: Cluster, result: RunResult) -> tuple[list[Any], dict[str, Any]]:
    states = await cluster.client().get_checkpoint_states(result.run.latest_checkpoint_id)
    return [payloads.json_value(p) for p in result.outputs], states


async def test_a_runner_killed_during_the_overlap_resumes_from_the_checkpoint_before(
    tmp_path: Path,
) -> None:
    hold = tmp_path / "hold"
    hold.mkdir()
    env = {
        "STEPLINE_HOLD_DIR": str(hold),
        "STEPLINE_HOLD_DB": str(tmp_path / "stepline.db"),
        "STEPLINE_LOCK_AT": str(LOCK_AT),
    }
    cluster = await Cluster.start(tmp_path, "held_stage", fixed_ports=True, executor_env=env)
    try:
        client = cluster.client()
        await client.register_workflow(held_loop(cluster.addresses[0]))
        reference = await final(cluster, await client.run("held", TOKEN))

        (hold / "armed").touch()
        run = await client.start_run("held", TOKEN)
        await until(lambda: (hold / "entered").exists(), "superstep 5's Execute")
        await cluster.kill_runner()
        # Superstep 4's commit never landed; superstep 5 was running meanwhile.
        assert cluster.stored_run(run.run_id)[0] == LOCK_AT
        (hold / "released").touch()
        await until(lambda: (hold / "unlocked").exists(), "the database's write lock let go")
        await cluster.start_runner()

        client = cluster.client()
        await client.wait_for_ready()
        result = await client.wait(run.run_id)
        assert result.run.status == E.RUN_STATUS_COMPLETED
        assert_exact_log(result.events)
        assert await final(cluster, result) == reference
        # The executor, which had counted on to 5, was put back to superstep 3's state.
        restores = [e for e in cluster.log("held_stage") if e["kind"] == "restore"]
        assert [r["state"]["count"] for r in restores] == [LOCK_AT]
    finally:
        await cluster.close()
