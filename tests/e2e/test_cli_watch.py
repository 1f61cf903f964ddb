"""`stepline run watch` follows a run across a SIGKILL and restart of the
runner to its end, and exits with the run's outcome: 0 completed, 1 failed."""

from __future__ import annotations

import json
import re

import pytest

from stepline.v1 import events_pb2 as E
from tests.executors.stages import Token
from tests.support.cli import start_stepline
from tests.support.cluster import Cluster, cluster_fixture
from tests.support.runs import stage_loop

pytestmark = pytest.mark.asyncio(loop_scope="module")

# Fixed ports: the restarted runner is where the watching command left it.
cluster = cluster_fixture("stages", "stages", scope="module", fixed_ports=True)


async def test_the_live_view_follows_a_run_across_a_runner_restart_and_exits_0(
    cluster: Cluster,
) -> None:
    client = cluster.client()
    await client.register_workflow(stage_loop("loop", cluster.addresses))
    run = await client.start_run("loop", Token(1, 0, 30, delay_ms=100))
    # A terminal, as far as rich can tell: the view redraws as events come.
    watch = await start_stepline(
        "run", "watch", run.run_id, address=cluster.runner.address, env={"FORCE_COLOR": "1"}
    )
    try:
        await watch.until(lambda line: _superstep(line) >= 3)
        await cluster.restart_runner()  # SIGKILL, then the same file and port
        result = await watch.finish()
    finally:
        watch.kill()

    assert result.code == 0, result.stderr
    assert "outcome COMPLETED" in _plain(result.stdout)
    final = _plain(result.stdout).split("run " + run.run_id)[-1]
    assert "superstep 30" in final
    assert "outcome COMPLETED" in final
    client = cluster.client()
    assert (await client.get_run(run.run_id)).superstep == 30
    # The runner was killed mid-run and the new one resumed it.
    kinds = [e.kind async for e in client.watch(run.run_id)]
    assert E.EVENT_KIND_RUN_RESUMED in kinds


async def test_watching_a_run_that_fails_after_a_restart_exits_1(cluster: Cluster) -> None:
    client = cluster.client()
    await client.register_workflow(stage_loop("short", cluster.addresses, max_supersteps=20))
    run = await client.start_run("short", Token(1, 0, 1000, delay_ms=100))
    address = cluster.runner.address
    watch = await start_stepline("run", "watch", run.run_id, "--json", address=address)
    try:
        await watch.until(lambda line: json.loads(line).get("superstep", 0) >= 2)
        await cluster.restart_runner()
        result = await watch.finish()
    finally:
        watch.kill()

    assert result.code == 1
    events = result.json_lines()
    sequences = [e["sequence"] for e in events]
    assert sequences == list(range(1, len(sequences) + 1))  # nothing missed, nothing twice
    assert "EVENT_KIND_RUN_RESUMED" in {e["kind"] for e in events}
    assert events[-1]["status"] == "RUN_STATUS_FAILED"


def _superstep(line: str) -> int:
    """The highest superstep a line of the live view shows, else 0."""
    return max((int(n) for n in re.findall(r"superstep (\d+)", _plain(line))), default=0)


def _plain(text: str) -> str:
    """Without ANSI escape sequences."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
