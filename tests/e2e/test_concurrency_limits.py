"""Concurrency limits with the runner and the executors in their own
processes: a workflow's queued runs start in order as slots free, across a
runner SIGKILL; a node's Execute calls in flight never pass its limit."""

from __future__ import annotations

import pytest

from stepline import RunnerClient, WorkflowBuilder
from stepline.v1 import events_pb2 as E
from tests.support.cluster import Cluster, cluster_fixture
from tests.support.runs import until_waiting

pytestmark = pytest.mark.asyncio(loop_scope="module")

cluster = cluster_fixture("flow", scope="module", fixed_ports=True)


async def statuses(client: RunnerClient, run_ids: list[str]) -> list[str]:
    return [E.RunStatus.Name((await client.get_run(r)).status)[11:] for r in run_ids]


async def answer(client: RunnerClient, run_id: str) -> None:
    (request,) = await client.list_pending_requests(run_id)
    await client.send_responses(run_id, {request.request_id: 1})


async def test_queued_runs_start_in_order_as_slots_free_across_a_restart(
    cluster: Cluster,
) -> None:
    client = cluster.client()
    await client.register_workflow(
        WorkflowBuilder("two-at-once", max_concurrent_runs=2)
        .add_executor("ask", cluster.addresses[0], type="asker")
        .set_start_executor("ask")
        .build()
    )
    runs = [f"q{n}" for n in range(5)]
    for n, run_id in enumerate(runs):
        await client.start_run("two-at-once", n, run_id=run_id)
    for run_id in runs[:2]:
        await until_waiting(client, run_id)  # waiting for input holds the slot

    assert await statuses(client, runs) == ["IDLE_WITH_PENDING_REQUESTS"] * 2 + ["QUEUED"] * 3
    queued = [r async for r in client.list_runs("two-at-once", statuses=[E.RUN_STATUS_QUEUED])]
    assert sorted(r.run_id for r in queued) == ["q2", "q3", "q4"]

    await answer(client, "q1")
    assert (await client.wait("q1", output_type=int)).outputs == [1]
    await until_waiting(client, "q2")  # the oldest queued run took the slot
    assert await statuses(client, runs[3:]) == ["QUEUED", "QUEUED"]

    await cluster.restart_runner()  # SIGKILL: the queue is in the database
    client = cluster.client()
    await client.wait_for_ready()
    assert await statuses(client, runs[3:]) == ["QUEUED", "QUEUED"]
    await answer(client, "q0")
    await until_waiting(client, "q3")
    assert await statuses(client, ["q4"]) == ["QUEUED"]
    await client.cancel_run("q4")  # a queued run can be cancelled

    for run_id in ("q2", "q3"):
        await answer(client, run_id)
        assert (await client.wait(run_id, output_type=int)).outputs == [int(run_id[1])]
    assert await statuses(client, runs) == ["COMPLETED"] * 4 + ["CANCELLED"]
    started = []
    for run_id in runs[:4]:
        events = [e async for e in client.watch(run_id)]
        # q0 and q1 started at once; q2 and q3 went through the queue.
        changes = [E.RunStatus.Name(e.status)[11:] for e in events if e.status][:2]
        started.append(changes)
    assert started == [["RUNNING", "IDLE_WITH_PENDING_REQUESTS"]] * 2 + [["QUEUED", "RUNNING"]] * 2


async def test_a_nodes_execute_calls_in_flight_never_pass_its_limit(cluster: Cluster) -> None:
    client = cluster.client()
    svc = cluster.addresses[0]
    for workflow_id, limit in (("limited", 2), ("unlimited", 0)):
        await client.register_workflow(
            WorkflowBuilder(workflow_id)
            .add_executor("slow", svc, type="counted", max_concurrent_executes=limit)
            .set_start_executor("slow")
            .build()
        )

    async def burst(workflow_id: str, meet: int) -> list[int]:
        jobs = [{"n": n, "meet": meet, "work": 0.3} for n in range(6)]
        runs = [await client.start_run(workflow_id, job) for job in jobs]
        results = [await client.wait(r.run_id, output_type=dict) for r in runs]
        return [result.outputs[0]["peak"] for result in results]

    # Each call waits for a second one, then works: the burst of six would
    # all be in flight within those 0.3 s but for the limit.
    limited = await burst("limited", meet=2)
    unlimited = await burst("unlimited", meet=6)

    assert max(limited) == 2
    assert max(unlimited) == 6  # the executor counts right: without a limit all six gather


async def test_forks_and_resumes_of_ended_runs_queue_like_starts(cluster: Cluster) -> None:
    client = cluster.client()
    await client.register_workflow(
        WorkflowBuilder("one-at-once", max_concurrent_runs=1)
        .add_executor("ask", cluster.addresses[0], type="asker")
        .set_start_executor("ask")
        .build()
    )
    await client.start_run("one-at-once", 0, run_id="h0")
    await until_waiting(client, "h0")  # holds the one slot
    await client.start_run("one-at-once", 1, run_id="c1")
    await client.cancel_run("c1")  # an ended run...
    cancelled = await client.get_run("c1")
    held = await client.get_run("h0")

    resumed = await client.resume(cancelled.latest_checkpoint_id)  # ...resumed
    forked = await client.resume(held.latest_checkpoint_id, new_run_id="f2")
    assert (resumed.status, forked.status) == (E.RUN_STATUS_QUEUED, E.RUN_STATUS_QUEUED)
    assert await statuses(client, ["h0", "c1", "f2"]) == [
        "IDLE_WITH_PENDING_REQUESTS",
        "QUEUED",
        "QUEUED",
    ]

    await answer(client, "h0")  # its slot goes to c1, queued before f2
    assert (await client.wait("h0", output_type=int)).outputs == [0]
    await until_waiting(client, "c1", after=resumed.last_sequence)  # not its log before
    assert await statuses(client, ["f2"]) == ["QUEUED"]
    await answer(client, "c1")
    assert (await client.wait("c1", output_type=int, after=resumed.last_sequence)).outputs == [1]
    await until_waiting(client, "f2")  # the fork goes on from h0's request
    await answer(client, "f2")
    assert (await client.wait("f2", output_type=int)).outputs == [0]

    c1 = client.watch("c1", after=cancelled.last_sequence)
    after_cancel = [(e.kind, E.RunStatus.Name(e.status)[11:]) async for e in c1]
    assert after_cancel[:3] == [
        (E.EVENT_KIND_RUN_RESUMED, "UNSPECIFIED"),
        (E.EVENT_KIND_STATUS_CHANGED, "QUEUED"),
        (E.EVENT_KIND_STATUS_CHANGED, "RUNNING"),
    ]
    f2 = [E.RunStatus.Name(e.status)[11:] async for e in client.watch("f2") if e.status]
    assert f2[:3] == ["QUEUED", "RUNNING", "IDLE_WITH_PENDING_REQUESTS"]
