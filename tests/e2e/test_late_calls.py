"""Calls past their execute_timeout, with the executors in their own process:
whatever puts a run's executors back (a whole-run rollback, a ResumeRun)
waits for the late call's end first, so a late write cannot land in the
restored state; one that outlives twice its deadline is not restored under.

`slow` (tests/executors/retrying.py) keeps its state outside its object, as
an executor backed by a database would: its run's first call past
superstep 1 works past the 1 s deadline, then writes; a later call that
finds it running waits for that write, so a write under it shows."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
import pytest_asyncio

from stepline import FailedPreconditionError, Reason, RunFailedError, WorkflowBuilder, payloads
from stepline.v1 import events_pb2 as E
from stepline.v1 import executor_pb2, executor_pb2_grpc
from tests.executors.retrying import Late
from tests.support.cluster import Cluster, cluster_fixture
from tests.support.runs import latest_states, of_kind

pytestmark = pytest.mark.asyncio(loop_scope="module")

# The Node service (node_late.js) is the twin of retrying.py's Slow.
cluster = cluster_fixture("retrying", "node_late", scope="module")
DEADLINE = timedelta(seconds=1)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def registered(cluster: Cluster) -> Cluster:
    client = cluster.client()
    svc = cluster.addresses[0]
    # slow -> {slow, twin}: in superstep 2 twin answers as if its service
    # restarted while slow's first call is past its deadline.
    rollback = (
        WorkflowBuilder("late-rollback")
        .add_executor("slow", svc, execute_timeout=DEADLINE)
        .add_executor("twin", svc)
        .add_fan_out("slow", ["slow", "twin"])
        .set_start_executor("slow")
    )
    alone = (
        WorkflowBuilder("late-alone")
        .add_executor("slow", svc, execute_timeout=DEADLINE)
        .add_edge("slow", "slow")
        .set_start_executor("slow")
    )
    node = (
        WorkflowBuilder("late-node")
        .add_executor("slow", cluster.addresses[1], execute_timeout=DEADLINE)
        .add_edge("slow", "slow")
        .set_start_executor("slow")
    )
    for workflow in (rollback, alone, node):
        await client.register_workflow(workflow.build())
    return cluster


async def test_a_rollback_waits_for_a_late_call_before_it_restores(registered: Cluster) -> None:
    """The late call ends 0.5 s after its deadline: the rollback waits for
    it, so its write is undone by the restore, not written over it."""
    client = registered.client()
    run = await client.start_run("late-rollback", Late(1.5))
    result = await client.wait(run.run_id, output_type=dict)

    assert result.outputs == [{"beside": 0, "ledger": ["superstep 1", "attempt 2"]}]
    (rollback,) = of_kind(result.events, E.EVENT_KIND_ROLLBACK)
    assert "restarted" in rollback.message
    assert (await latest_states(client, run.run_id))["slow"]["ledger"] == [
        "superstep 1",
        "attempt 2",
    ]


async def test_a_rollback_under_a_call_past_twice_its_deadline_fails_the_run(
    registered: Cluster,
) -> None:
    client = registered.client()
    run = await client.start_run("late-rollback", Late(2.5))
    with pytest.raises(RunFailedError) as failed:
        await client.wait(run.run_id)
    error = failed.value.error
    assert (error.type, error.executor_id) == ("ExecuteDeadlineExceeded", "slow")
    assert "did not return within 2s (twice its execute_timeout); the run is not rolled back" in (
        error.message
    )


async def test_a_resume_waits_for_the_late_call_of_the_failure(registered: Cluster) -> None:
    """No retry policy: the deadline fails the run while the call goes on;
    a ResumeRun at once waits for its end before it restores."""
    client = registered.client()
    run = await client.start_run("late-alone", Late(1.5))
    with pytest.raises(RunFailedError) as failed:
        await client.wait(run.run_id)
    assert failed.value.error.type == "ExecuteDeadlineExceeded"

    resumed = await client.resume((await client.get_run(run.run_id)).latest_checkpoint_id)
    result = await client.wait(resumed.run_id, output_type=dict)
    assert result.outputs == [{"beside": 0, "ledger": ["superstep 1", "attempt 1"]}]
    assert (await latest_states(client, run.run_id))["slow"]["ledger"] == [
        "superstep 1",
        "attempt 1",
    ]


async def test_a_resume_under_a_call_past_twice_its_deadline_is_refused_once(
    registered: Cluster,
) -> None:
    client = registered.client()
    run = await client.start_run("late-alone", Late(2.5))
    with pytest.raises(RunFailedError):
        await client.wait(run.run_id)
    checkpoint_id = (await client.get_run(run.run_id)).latest_checkpoint_id

    with pytest.raises(FailedPreconditionError) as refused:
        await client.resume(checkpoint_id)
    assert refused.value.reason == Reason.LATE_CALL_RUNNING
    assert "did not return within 2s (twice its execute_timeout) and may still be running" in str(
        refused.value
    )
    # Told once: the next resume goes on (its handler was cancelled at its deadline).
    await client.resume(checkpoint_id)
    result = await client.wait(run.run_id, output_type=dict)
    assert result.outputs[-1]["ledger"] == ["superstep 1", "attempt 1"]


async def test_a_node_handler_past_its_deadline_is_told_and_applies_nothing(
    registered: Cluster,
) -> None:
    """grpc-js does not stop a handler: past the call's deadline (2 s, on
    the Session stream) its ctx.signal is aborted, its timer with it, and
    ctx refuses what it would still do; the resume after it finds the state
    as the checkpoint left it."""
    client = registered.client()
    run = await client.start_run("late-node", Late(2.5))
    with pytest.raises(RunFailedError):
        await client.wait(run.run_id)
    checkpoint_id = (await client.get_run(run.run_id)).latest_checkpoint_id
    with pytest.raises(FailedPreconditionError) as refused:
        await client.resume(checkpoint_id)
    assert refused.value.reason == Reason.LATE_CALL_RUNNING

    await client.resume(checkpoint_id)
    result = await client.wait(run.run_id, output_type=dict)
    assert result.outputs == [
        {
            "ledger": ["superstep 1", "attempt 1"],
            "told": ["TimeoutError", "output refused: TimeoutError"],
        }
    ]


async def test_a_node_handler_past_a_unary_deadline_is_told_too(registered: Cluster) -> None:
    """The unary Execute, called as a runner would call it: grpc-js answers
    DEADLINE_EXCEEDED and aborts ctx.signal; the run's next call (which
    waits for the slow one's end) reports what it was told."""
    async with grpc.aio.insecure_channel(registered.addresses[1]) as channel:
        stub = executor_pb2_grpc.ExecutorServiceStub(channel)

        def call(superstep: int) -> executor_pb2.ExecuteRequest:
            request = executor_pb2.ExecuteRequest(
                run_id="unary-late", executor_id="slow", executor_type="slow", superstep=superstep
            )
            request.messages.add(payload=payloads.encode(Late(2.5)))
            request.attempt = 1
            return request

        await stub.Execute(call(1), timeout=10)
        with pytest.raises(grpc.aio.AioRpcError) as late:
            await stub.Execute(call(2), timeout=0.3)
        assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        # Well before the 2.5 s the slow call would take were it not stopped.
        response = await stub.Execute(call(3), timeout=2)
    (output,) = response.outputs
    assert payloads.json_value(output) == {
        "ledger": ["superstep 1", "attempt 1"],
        "told": ["TimeoutError", "output refused: TimeoutError"],
    }
