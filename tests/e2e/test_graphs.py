"""Every edge kind, a diamond, a loop that leaves through a switch-case,
explicit targets and type routing: executors in two separate processes."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio

from stepline import RunnerClient, WorkflowBuilder
from stepline.v1 import events_pb2 as E
from tests.executors.shapes import Job
from tests.support.cluster import Cluster, cluster_fixture

pytestmark = pytest.mark.asyncio(loop_scope="module")

cluster = cluster_fixture("shapes", "shapes", scope="module")


class Graphs:
    def __init__(self, client: RunnerClient, first: str, second: str) -> None:
        self.client = client
        self.first, self.second = first, second

    def builder(
        self, workflow_id: str, nodes: dict[str, str], *, drop: bool = False
    ) -> WorkflowBuilder:
        """Nodes alternate between the two services; `drop`: undeliverable
        messages are dropped with a warning (test_undeliverable_messages:
        failing the run, the default)."""
        builder = WorkflowBuilder(workflow_id, drop_undeliverable=drop)
        for i, (node, kind) in enumerate(nodes.items()):
            builder.add_executor(node, (self.first, self.second)[i % 2], type=kind)
        return builder

    async def outputs(self, workflow_id: str, job: Job) -> list[Any]:
        result = await self.client.run(workflow_id, job, output_type=dict)
        assert result.run.status == E.RUN_STATUS_COMPLETED
        return result.outputs


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def graphs(cluster: Cluster) -> Graphs:
    return Graphs(cluster.client(), *cluster.addresses)


async def test_conditional_direct_edges(graphs: Graphs) -> None:
    await graphs.client.register_workflow(
        graphs.builder("cond", {"src": "source", "big": "leaf", "small": "leaf"})
        .add_edge("src", "big", condition="message.n > 10")
        .add_edge("src", "small", condition="message.n <= 10")
        .set_start_executor("src")
        .build()
    )
    assert await graphs.outputs("cond", Job(3)) == [{"by": "small", "n": 3}]
    assert await graphs.outputs("cond", Job(30)) == [{"by": "big", "n": 30}]


async def test_fan_out_to_all_and_to_a_selection(graphs: Graphs) -> None:
    nodes = {"src": "source", "s1": "leaf", "s2": "leaf", "s3": "leaf"}
    await graphs.client.register_workflow(
        graphs.builder("all", nodes)
        .add_fan_out("src", ["s1", "s2", "s3"])
        .set_start_executor("src")
        .build()
    )
    await graphs.client.register_workflow(
        graphs.builder("some", nodes)
        .add_fan_out(
            "src", ["s1", "s2", "s3"], selection="message.n % 2 == 0 ? ['s1', 's3'] : ['s2']"
        )
        .set_start_executor("src")
        .build()
    )
    everyone = await graphs.outputs("all", Job(1))
    assert sorted(o["by"] for o in everyone) == ["s1", "s2", "s3"]
    assert sorted(o["by"] for o in await graphs.outputs("some", Job(4))) == ["s1", "s3"]
    assert [o["by"] for o in await graphs.outputs("some", Job(5))] == ["s2"]


async def test_switch_case_takes_the_first_match_else_the_default(graphs: Graphs) -> None:
    await graphs.client.register_workflow(
        graphs.builder("switch", {"src": "source", "x": "leaf", "big": "leaf", "other": "leaf"})
        .add_switch("src", [("message.tag == 'x'", "x"), ("message.n > 5", "big")], "other")
        .set_start_executor("src")
        .build()
    )
    assert [o["by"] for o in await graphs.outputs("switch", Job(9, "x"))] == ["x"]
    assert [o["by"] for o in await graphs.outputs("switch", Job(9, "y"))] == ["big"]
    assert [o["by"] for o in await graphs.outputs("switch", Job(1, "y"))] == ["other"]


async def test_diamond_fans_out_and_in(graphs: Graphs) -> None:
    await graphs.client.register_workflow(
        graphs.builder("diamond", {"src": "source", "w1": "worker", "w2": "worker", "j": "join"})
        .add_fan_out("src", ["w1", "w2"])
        .add_fan_in(["w1", "w2"], "j")
        .set_start_executor("src")
        .build()
    )
    assert await graphs.outputs("diamond", Job(10)) == [
        {"batch": 1, "results": [["w1", 21], ["w2", 21]]}
    ]


async def test_loop_leaves_through_a_switch_case(graphs: Graphs) -> None:
    await graphs.client.register_workflow(
        graphs.builder("loop", {"count": "counter", "done": "leaf"})
        .add_switch("count", [("message.n < 5", "count")], "done")
        .set_start_executor("count")
        .build()
    )
    result = await graphs.client.run("loop", Job(0), output_type=dict)
    assert result.outputs == [{"by": "done", "n": 5}]
    assert result.run.superstep == 6


async def test_explicit_target_must_be_connected(graphs: Graphs) -> None:
    await graphs.client.register_workflow(
        graphs.builder(
            "explicit", {"src": "source", "s1": "leaf", "s2": "leaf", "s3": "leaf"}, drop=True
        )
        .add_fan_out("src", ["s1", "s2"])
        .set_start_executor("src")
        .build()
    )
    assert [o["by"] for o in await graphs.outputs("explicit", Job(1, target="s2"))] == ["s2"]
    result = await graphs.client.run("explicit", Job(1, target="s3"))
    assert result.outputs == []
    (warning,) = [e for e in result.events if e.kind == E.EVENT_KIND_WARNING]
    assert "no edge connects 'src'" in warning.message


async def test_a_message_its_target_cannot_take_is_not_delivered(graphs: Graphs) -> None:
    await graphs.client.register_workflow(
        graphs.builder("types", {"src": "source", "results": "result-leaf"}, drop=True)
        .add_edge("src", "results")
        .set_start_executor("src")
        .build()
    )
    assert await graphs.outputs("types", Job(7, "as-result")) == [{"by": "results", "n": 7}]
    result = await graphs.client.run("types", Job(7, "plain"))
    assert result.outputs == []
    (warning,) = [e for e in result.events if e.kind == E.EVENT_KIND_WARNING]
    assert "'Job'" in warning.message and "not accepted by any target" in warning.message
