"""Retry policies with executors in their own process: a handler that fails
twice then succeeds, errors that never retry, and policies the runner refuses."""

from __future__ import annotations

from datetime import timedelta

import pytest
import pytest_asyncio

from stepline import InvalidArgumentError, RetryPolicy, RunFailedError, WorkflowBuilder
from stepline.v1 import events_pb2 as E
from tests.executors.retrying import Job, Late
from tests.support.cluster import Cluster, cluster_fixture
from tests.support.runs import latest_states, of_kind

pytestmark = pytest.mark.asyncio(loop_scope="module")

# The Node service (node_flaky.js) is the twin of retrying.py's Flaky.
cluster = cluster_fixture("retrying", "node_flaky", scope="module")
FAST = timedelta(milliseconds=20)


def split_workflow(workflow_id: str, svc: str, flaky: RetryPolicy) -> WorkflowBuilder:
    """split -> {flaky, steady} in one superstep; flaky has `flaky` as its policy,
    steady the workflow's default (which would retry it too, were it to fail)."""
    return (
        WorkflowBuilder(workflow_id, retry_policy=RetryPolicy(max_attempts=5))
        .add_executor("split", svc)
        .add_executor("flaky", svc, retry_policy=flaky)
        .add_executor("steady", svc)
        .add_fan_out("split", ["flaky", "steady"])
        .set_start_executor("split")
    )


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def registered(cluster: Cluster) -> Cluster:
    client = cluster.client()
    svc = cluster.addresses[0]
    policy = RetryPolicy(max_attempts=3, initial_backoff=FAST, never_retry=["KeyError"])
    await client.register_workflow(split_workflow("retry", svc, policy).build())
    return cluster


async def test_a_handler_that_fails_twice_then_succeeds(registered: Cluster) -> None:
    client = registered.client()
    run = await client.start_run("retry", Job(fails=2))
    result = await client.wait(run.run_id, output_type=dict)

    # The other executor of the superstep ran once, its output logged once.
    assert sorted(result.outputs, key=lambda o: o["by"]) == [
        {"by": "flaky", "attempt": 3},
        {"by": "steady", "calls": 1, "attempt": 1},
    ]
    scheduled = of_kind(result.events, E.EVENT_KIND_RETRY_SCHEDULED)
    assert [(e.executor_id, e.attempt, e.superstep) for e in scheduled] == [
        ("flaky", 2, 2),
        ("flaky", 3, 2),
    ]
    assert [e.error.type for e in scheduled] == ["TimeoutError", "TimeoutError"]
    # In the order it happened: the superstep started, flaky failed, a retry was scheduled.
    step2 = [(e.kind, e.executor_id, e.attempt) for e in result.events if e.superstep == 2]
    assert step2[:6] == [
        (E.EVENT_KIND_SUPERSTEP_STARTED, "", 0),
        (E.EVENT_KIND_EXECUTOR_INVOKED, "flaky", 0),
        (E.EVENT_KIND_EXECUTOR_INVOKED, "steady", 0),
        (E.EVENT_KIND_EXECUTOR_FAILED, "flaky", 0),
        (E.EVENT_KIND_RETRY_SCHEDULED, "flaky", 2),
        (E.EVENT_KIND_EXECUTOR_FAILED, "flaky", 0),
    ]
    assert "attempt 2 failed" in scheduled[1].error.message
    # The pauses double from the initial backoff: 20 ms, then 40 ms.
    pauses = [(e.due_time.ToNanoseconds() - e.time.ToNanoseconds()) / 1e6 for e in scheduled]
    assert [round(p) for p in pauses] == [20, 40]
    assert "attempt 3 of 3 in 0.04s" in scheduled[1].message
    # The failed attempts left no trace in the executor's state.
    states = await latest_states(client, run.run_id)
    assert states["flaky"] == {"attempts": [3]}
    assert states["steady"] == {"calls": 1}
    assert not of_kind(result.events, E.EVENT_KIND_RUN_FAILED)


@pytest.mark.parametrize(
    ("job", "error_type"),
    [(Job(1, "NonRetryableError"), "NonRetryableError"), (Job(1, "KeyError"), "KeyError")],
)
async def test_errors_that_never_retry_fail_the_run_at_once(
    registered: Cluster, job: Job, error_type: str
) -> None:
    client = registered.client()
    run = await client.start_run("retry", job)
    with pytest.raises(RunFailedError) as failed:
        await client.wait(run.run_id)
    assert failed.value.error.type == error_type
    assert failed.value.error.executor_id == "flaky"
    events = [e async for e in client.watch(run.run_id)]
    assert not of_kind(events, E.EVENT_KIND_RETRY_SCHEDULED)


async def test_the_run_fails_after_the_last_attempt(registered: Cluster) -> None:
    client = registered.client()
    run = await client.start_run("retry", Job(fails=5))
    with pytest.raises(RunFailedError) as failed:
        await client.wait(run.run_id)
    assert failed.value.error.type == "TimeoutError"
    assert "attempt 3 failed" in failed.value.error.message
    events = [e async for e in client.watch(run.run_id)]
    assert [e.attempt for e in of_kind(events, E.EVENT_KIND_RETRY_SCHEDULED)] == [2, 3]


async def test_a_node_handler_marks_an_error_non_retryable(registered: Cluster) -> None:
    client = registered.client()
    policy = RetryPolicy(max_attempts=3, initial_backoff=FAST)
    workflow = (
        WorkflowBuilder("node-retry", retry_policy=policy)
        .add_executor("flaky", registered.addresses[1])
        .set_start_executor("flaky")
    )
    await client.register_workflow(workflow.build())

    retried = await client.start_run("node-retry", Job(fails=2))
    result = await client.wait(retried.run_id, output_type=dict)
    assert result.outputs == [{"by": "node-flaky", "attempt": 3}]
    scheduled = of_kind(result.events, E.EVENT_KIND_RETRY_SCHEDULED)
    assert [(e.attempt, e.error.type, e.error.non_retryable) for e in scheduled] == [
        (2, "TimeoutError", False),
        (3, "TimeoutError", False),
    ]
    assert (await latest_states(client, retried.run_id))["flaky"] == {"attempts": [3]}

    refused = await client.start_run("node-retry", Job(fails=1, error="NonRetryableError"))
    with pytest.raises(RunFailedError) as failed:
        await client.wait(refused.run_id)
    assert failed.value.error.type == "NonRetryableError"
    assert "attempt 1: no retry fixes this" in failed.value.error.message
    events = [e async for e in client.watch(refused.run_id)]
    assert not of_kind(events, E.EVENT_KIND_RETRY_SCHEDULED)
    # The same wire field as the Python SDK's NonRetryableError.
    assert [e.error.non_retryable for e in of_kind(events, E.EVENT_KIND_RUN_FAILED)] == [True]


async def test_a_retry_after_a_deadline_waits_for_the_late_call_to_end(
    registered: Cluster,
) -> None:
    """The first attempt outlives its execute_timeout (1 s) by half of it: the
    retry waits for its end before putting the executor back, so the late
    write is undone and the two calls never run side by side."""
    client = registered.client()
    workflow = (
        WorkflowBuilder("late", retry_policy=RetryPolicy(max_attempts=2, initial_backoff=FAST))
        .add_executor("slow", registered.addresses[0], execute_timeout=timedelta(seconds=1))
        .add_edge("slow", "slow")
        .set_start_executor("slow")
    )
    await client.register_workflow(workflow.build())

    result = await client.wait((await client.start_run("late", Late(1.5))).run_id, output_type=dict)
    assert result.outputs == [{"beside": 0, "ledger": ["superstep 1", "attempt 2"]}]
    (scheduled,) = of_kind(result.events, E.EVENT_KIND_RETRY_SCHEDULED)
    assert scheduled.error.type == "ExecuteDeadlineExceeded"

    # A call that outlives twice its deadline is not retried: it may still run.
    still = await client.start_run("late", Late(2.5))
    with pytest.raises(RunFailedError) as failed:
        await client.wait(still.run_id)
    assert failed.value.error.type == "ExecuteDeadlineExceeded"
    assert "did not return within 2s (twice its execute_timeout); not retried" in str(
        failed.value.error.message
    )


@pytest.mark.parametrize(
    ("policy", "says"),
    [
        (RetryPolicy(max_attempts=101), "max_attempts is 101: it must be between 0 and 100"),
        (RetryPolicy(initial_backoff=timedelta(seconds=-1)), "initial_backoff is -1s"),
        (RetryPolicy(initial_backoff=timedelta(days=2)), "initial_backoff is 172800s"),
        (
            RetryPolicy(initial_backoff=timedelta(seconds=5), max_backoff=timedelta(seconds=1)),
            "max_backoff (1s) is shorter than initial_backoff (5s)",
        ),
        (RetryPolicy(backoff_multiplier=0.5), "backoff_multiplier is 0.5"),
        (RetryPolicy(backoff_multiplier=float("nan")), "backoff_multiplier is nan"),
        (RetryPolicy(retry_on=["x" * 5000]), "retry_on[0] 'xxxxxxxx"),
        (RetryPolicy(never_retry=["A"] * 101), "never_retry lists 101 error types"),
    ],
)
async def test_policies_the_runner_refuses(
    registered: Cluster, policy: RetryPolicy, says: str
) -> None:
    client = registered.client()
    definition = split_workflow("refused", registered.addresses[0], policy).build()
    with pytest.raises(InvalidArgumentError) as refused:
        await client.register_workflow(definition)
    assert "executor 'flaky': retry_policy." in str(refused.value)
    assert says in str(refused.value)
    assert len(str(refused.value)) < 400


async def test_a_runner_restart_during_a_backoff_keeps_the_schedule(registered: Cluster) -> None:
    client = registered.client()
    svc = registered.addresses[0]
    slow = RetryPolicy(max_attempts=3, initial_backoff=timedelta(seconds=2))
    await client.register_workflow(split_workflow("slow-retry", svc, slow).build())
    run = await client.start_run("slow-retry", Job(fails=2))
    async for event in client.watch(run.run_id):
        if event.kind == E.EVENT_KIND_RETRY_SCHEDULED:
            first = event
            break

    await registered.restart_runner()  # SIGKILL in the middle of the pause
    client = registered.client()
    await client.wait_for_ready()
    result = await client.wait(run.run_id, output_type=dict)

    # Attempt 2 ran when it was due, not at once, and failed; attempt 3 followed.
    scheduled = of_kind(result.events, E.EVENT_KIND_RETRY_SCHEDULED)
    assert [e.attempt for e in scheduled] == [2, 3]
    assert scheduled[1].time.ToNanoseconds() >= first.due_time.ToNanoseconds()
    assert of_kind(result.events, E.EVENT_KIND_RUN_RESUMED)
    assert sorted(result.outputs, key=lambda o: o["by"]) == [
        {"by": "flaky", "attempt": 3},
        {"by": "steady", "calls": 1, "attempt": 2},
    ]
    states = await latest_states(client, run.run_id)
    assert states["flaky"] == {"attempts": [3]}
