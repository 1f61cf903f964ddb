"""Durable timers with executors in their own process: a message sent with a
delay waits in the checkpoint (the run holds nothing else) and survives a
runner SIGKILL; delays the runner refuses fail the run with a clear error."""

from __future__ import annotations

import pytest
import pytest_asyncio

from stepline import RunFailedError, RunnerClient, WorkflowBuilder
from stepline.v1 import events_pb2 as E
from tests.executors.retrying import Nap, RawTimer
from tests.support.cluster import Cluster, cluster_fixture
from tests.support.runs import assert_exact_log, of_kind

pytestmark = pytest.mark.asyncio(loop_scope="module")

# The runner comes back at its address after a kill.
cluster = cluster_fixture("retrying", scope="module", fixed_ports=True)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def registered(cluster: Cluster) -> Cluster:
    client = cluster.client()
    svc = cluster.addresses[0]
    for executor_type in ("sleeper", "raw-timer"):
        await client.register_workflow(
            WorkflowBuilder(executor_type)
            .add_executor("x", svc, type=executor_type)
            .add_edge("x", "x")
            .set_start_executor("x")
            .build()
        )
    return cluster


async def until_status(client: RunnerClient, run_id: str, status: E.RunStatus) -> E.Event:
    async for event in client.watch(run_id):
        if event.kind == E.EVENT_KIND_STATUS_CHANGED and event.status == status:
            return event
    raise AssertionError(f"run {run_id} ended without {E.RunStatus.Name(status)}")


async def test_a_timer_survives_a_runner_kill(registered: Cluster) -> None:
    client = registered.client()
    run = await client.start_run("sleeper", Nap(seconds=3))
    waiting = await until_status(client, run.run_id, E.RUN_STATUS_WAITING_FOR_TIMERS)
    stored = await client.get_run(run.run_id)
    assert stored.status == E.RUN_STATUS_WAITING_FOR_TIMERS
    checkpoint = await client.get_checkpoint(stored.latest_checkpoint_id, include_content=True)
    (timer,) = checkpoint.content.timers
    assert not checkpoint.content.pending_messages
    assert timer.source_id == "x" and timer.target_id == ""
    sent_at = waiting.time.ToNanoseconds()
    due = timer.deliver_at.ToNanoseconds()
    assert 2.5e9 < due - sent_at <= 3e9

    await registered.restart_runner()  # SIGKILL in the middle of the wait
    client = registered.client()
    await client.wait_for_ready()
    result = await client.wait(run.run_id, output_type=dict)

    assert result.outputs == [{"naps": 2, "supersteps": [1, 2]}]
    assert_exact_log(result.events)
    statuses = [e.status for e in of_kind(result.events, E.EVENT_KIND_STATUS_CHANGED)]
    assert statuses == [
        E.RUN_STATUS_RUNNING,
        E.RUN_STATUS_WAITING_FOR_TIMERS,
        E.RUN_STATUS_RUNNING,
        E.RUN_STATUS_COMPLETED,
    ]
    # Delivered in the first superstep after it was due, not before.
    (second,) = [
        e for e in of_kind(result.events, E.EVENT_KIND_SUPERSTEP_STARTED) if e.superstep == 2
    ]
    assert second.time.ToNanoseconds() >= due
    states = await client.get_checkpoint_states(result.run.latest_checkpoint_id)
    assert states["x"] == {"naps": 2}


@pytest.mark.parametrize(
    ("timer", "says"),
    [
        (RawTimer(delay=-1), "delay is -1s: it must be 0 or more"),
        (RawTimer(delay=400 * 86400), "past the bound of 31622400s (366 days)"),
        (RawTimer(at=10**15), "past the bound of 31622400s (366 days)"),
        (RawTimer(delay=1, at=1), "set delay or deliver_at, not both"),
    ],
)
async def test_delays_the_runner_refuses_fail_the_run(
    registered: Cluster, timer: RawTimer, says: str
) -> None:
    client = registered.client()
    run = await client.start_run("raw-timer", timer)
    with pytest.raises(RunFailedError) as failed:
        await client.wait(run.run_id)
    error = failed.value.error
    assert (error.type, error.executor_id) == ("InvalidTimer", "x")
    assert says in error.message and len(error.message) < 300


async def test_a_timer_in_the_past_is_due_at_once(registered: Cluster) -> None:
    client = registered.client()
    run = await client.start_run("raw-timer", RawTimer(at=1))
    result = await client.wait(run.run_id, output_type=dict)
    assert result.outputs == [{"delivered": True}]
    statuses = [e.status for e in of_kind(result.events, E.EVENT_KIND_STATUS_CHANGED)]
    assert E.RUN_STATUS_WAITING_FOR_TIMERS not in statuses
