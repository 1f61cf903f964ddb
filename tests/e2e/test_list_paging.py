"""The client's lists of many (workflows, runs, checkpoints) are async
iterators that fetch page after page: a small page size changes nothing but
the number of calls."""

from __future__ import annotations

import pytest

from stepline.v1 import events_pb2 as E
from tests.executors.stages import Token
from tests.support.cluster import Cluster, cluster_fixture
from tests.support.runs import stage_loop

pytestmark = pytest.mark.asyncio(loop_scope="module")

cluster = cluster_fixture("stages", scope="module")


async def test_runs_and_checkpoints_page_alike(cluster: Cluster) -> None:
    client = cluster.client()
    await client.register_workflow(stage_loop("paged", [cluster.addresses[0]] * 3))
    await client.register_workflow(stage_loop("other", [cluster.addresses[0]] * 3))
    started = [(await client.run("paged", Token(i, 0, 4))).run for i in range(3)]
    await client.run("other", Token(9, 0, 2))

    runs = [r.run_id async for r in client.list_runs("paged", page_size=1)]
    assert runs == [r.run_id async for r in client.list_runs("paged", page_size=100)]
    assert sorted(runs) == sorted(r.run_id for r in started)  # and no run of "other"

    run_id = started[0].run_id
    checkpoints = [c async for c in client.list_checkpoints(run_id, page_size=2)]
    assert [c.superstep for c in checkpoints] == [0, 1, 2, 3, 4]
    assert [c.checkpoint_id async for c in client.list_checkpoints(run_id)] == [
        c.checkpoint_id for c in checkpoints
    ]
    assert all(r.status == E.RUN_STATUS_COMPLETED for r in started)

    workflows = [w.workflow_id async for w in client.list_workflows(page_size=1)]
    assert workflows == ["paged", "other"]
