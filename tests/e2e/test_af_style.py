"""Executors written as Agent Framework users write them (tests/executors/af_style.py)
run unchanged apart from imports: a fan-out/fan-in, a loop leaving through a
switch-case, a resume from a middle checkpoint and a request for approval,
their executors in two separate processes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import pytest_asyncio

from stepline import RunnerClient, WorkflowBuilder
from tests.executors.af_style import ApprovalRequest, Bounds, LegalReview, Numbers
from tests.support.cluster import Cluster, ExecutorProcess, cluster_fixture

pytestmark = pytest.mark.asyncio(loop_scope="module")


cluster = cluster_fixture("af_style front", "af_style back", scope="module")


@dataclass
class Desk:
    cluster: Cluster
    client: RunnerClient

    @property
    def front(self) -> ExecutorProcess:
        return self.cluster.executors[0]

    @property
    def back(self) -> ExecutorProcess:
        return self.cluster.executors[1]

    async def restart_executors(self) -> None:
        """Both executor services lose their memory (a new process each)."""
        for i in (0, 1):
            await self.cluster.restart_executor(i)

    def guessing(self) -> WorkflowBuilder:
        return (
            WorkflowBuilder("guess", max_supersteps=100)
            .add_executor("guesser", self.front.address)
            .add_executor("judge", self.back.address)
            .add_executor("finish", self.front.address)
            .add_edge("guesser", "judge")
            .add_switch("judge", [("message.kind == 'correct'", "finish")], "guesser")
            .set_start_executor("guesser")
        )


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def desk(cluster: Cluster) -> Desk:
    return Desk(cluster, cluster.client())


async def test_fan_out_to_workers_made_with_arguments_and_fan_in(desk: Desk) -> None:
    await desk.client.register_workflow(
        WorkflowBuilder("scale")
        .add_executor("split", desk.front.address, type="splitter")
        .add_executor("x2", desk.back.address, type="double")
        .add_executor("x3", desk.back.address, type="triple")
        .add_executor("sum", desk.front.address, type="aggregate")
        .add_fan_out("split", ["x2", "x3"])
        .add_fan_in(["x2", "x3"], "sum")
        .set_start_executor("split")
        .build()
    )

    result = await desk.client.run("scale", Numbers([1, 2, 3]), output_type=dict)

    # 2*6 + 3*6, each worker named by the id its constructor was given.
    assert result.outputs == [{"total": 30, "by": ["x2", "x3"]}]


async def test_a_loop_leaves_through_a_switch_case(desk: Desk) -> None:
    await desk.client.register_workflow(desk.guessing().build())

    result = await desk.client.run("guess", Bounds(1, 100), output_type=dict)

    # Binary search for the judge's constructor argument 30: 50 25 37 31 28 29 30.
    assert result.outputs == [{"guess": 30, "tries": 7}]


async def test_a_fork_from_a_middle_checkpoint_restores_async_hooks(desk: Desk) -> None:
    await desk.client.register_workflow(desk.guessing().build())
    first = await desk.client.run("guess", Bounds(1, 100), output_type=dict)
    checkpoints = [c async for c in desk.client.list_checkpoints(first.run.run_id)]
    middle = checkpoints[len(checkpoints) // 2]
    states = await desk.client.get_checkpoint_states(middle.checkpoint_id)
    assert 0 < states["judge"]["tries"] < 7  # the middle: part of the state is there
    await desk.restart_executors()  # nothing left in memory but the checkpoint
    await desk.client.register_workflow(desk.guessing().build())

    fork = await desk.client.resume(middle.checkpoint_id, fork=True)
    resumed = await desk.client.wait(fork.run_id, output_type=dict)

    # Restored bounds and tries: the same search, finished, the same count.
    assert resumed.outputs == [{"guess": 30, "tries": 7}]


async def test_a_request_for_approval_goes_to_the_handler_of_its_request_type(
    desk: Desk,
) -> None:
    await desk.client.register_workflow(
        WorkflowBuilder("publish")
        .add_executor("drafter", desk.front.address)
        .add_executor("reviewer", desk.back.address)
        .add_executor("publisher", desk.front.address)
        .add_chain(["drafter", "reviewer", "publisher"])
        .set_start_executor("drafter")
        .build()
    )
    # As AF's run does, run returns when the workflow waits with open requests.
    waiting = await desk.client.run(
        "publish", "Stepline for AF users", request_types=[ApprovalRequest, LegalReview]
    )
    asked = {type(r.data): r for r in waiting.requests}
    assert waiting.waiting and {(t, r.response_type) for t, r in asked.items()} == {
        (ApprovalRequest, "boolean"),
        (LegalReview, "boolean"),
    }

    await desk.client.send_responses(
        waiting.run.run_id,
        {asked[ApprovalRequest].request_id: True, asked[LegalReview].request_id: False},
    )
    result = await desk.client.wait(waiting.run.run_id, output_type=str)

    assert result.outputs == ["Stepline for AF users: rejected (editor=True, legal=False)"]
