"""Schedules with the runner and the executors in their own processes: runs
start at their fire times, and a runner SIGKILLed and started again starts no
fire time twice; `stepline schedule ...` and the refusals at the wire."""

from __future__ import annotations

import calendar
import json
import time
from datetime import timedelta

import grpc
import pytest
import pytest_asyncio

from stepline import RunnerClient, SteplineError, WorkflowBuilder
from stepline.v1 import events_pb2 as E
from tests.support.cli import Result, stepline
from tests.support.cluster import Cluster, cluster_fixture

pytestmark = pytest.mark.asyncio(loop_scope="module")

cluster = cluster_fixture("flow", scope="module", fixed_ports=True)
EVERY = 2  # seconds


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def client(cluster: Cluster) -> RunnerClient:
    client = cluster.client()
    await client.register_workflow(
        WorkflowBuilder("stamped")
        .add_executor("stamp", cluster.addresses[0], type="stamp")
        .set_start_executor("stamp")
        .build()
    )
    return client


def fire_time(run_id: str, schedule_id: str) -> int:
    stamp = run_id.removeprefix(f"{schedule_id}-")
    return calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ"))


async def next_started(client: RunnerClient, count: int) -> list[E.Event]:
    """The next `count` RUN_STARTED events of the workflow, as they happen."""
    started = []
    async for event in client.watch_all(workflow_id="stamped", kinds=[E.EVENT_KIND_RUN_STARTED]):
        started.append(event)
        if len(started) == count:
            return started
    raise AssertionError("the stream ended")


async def test_a_schedule_fires_at_its_times_and_once_across_a_runner_kill(
    cluster: Cluster, client: RunnerClient
) -> None:
    await client.create_schedule(
        "tick", "stamped", "tock", interval=timedelta(seconds=EVERY), catch_up="one"
    )
    before = await next_started(client, 2)
    await cluster.restart_runner()  # SIGKILL, right after a fire time's run started
    client = cluster.client()
    await client.wait_for_ready()
    after = await next_started(client, 2)

    runs = [r async for r in client.list_runs("stamped")]
    ids = sorted(r.run_id for r in runs if r.run_id.startswith("tick-"))
    fires = [fire_time(r, "tick") for r in ids]
    assert all(f % EVERY == 0 for f in fires)  # at its times...
    for event in before + after:
        assert event.time.seconds >= fire_time(event.run_id, "tick")  # ...never early
    seen = sorted(fire_time(e.run_id, "tick") for e in before + after)
    assert seen[1] - seen[0] == EVERY and seen[3] - seen[2] == EVERY
    for run_id in ids:
        result = await client.wait(run_id, output_type=str)
        assert result.outputs == ["tock"]
        events = [e async for e in client.watch(run_id)]
        # No fire time started twice: its run (the id is the fire time) began once.
        assert [e.kind for e in events].count(E.EVENT_KIND_RUN_STARTED) == 1
    schedule = await client.pause_schedule("tick")
    assert schedule.paused and schedule.last_run_id in ids
    await client.delete_schedule("tick")


async def test_bad_schedules_are_refused_at_the_wire(client: RunnerClient) -> None:
    with pytest.raises(SteplineError) as bad_cron:
        await client.create_schedule("bad", "stamped", "x", cron="61 * * * * " + "9" * 5000)
    with pytest.raises(SteplineError) as bad_zone:
        await client.create_schedule("bad", "stamped", "x", cron="@daily", time_zone="Nowhere/X")
    with pytest.raises(SteplineError) as too_often:
        await client.create_schedule("bad", "stamped", "x", interval=timedelta(milliseconds=10))
    with pytest.raises(SteplineError) as unknown:
        await client.get_schedule("nothing-here")
    with pytest.raises(SteplineError) as wrong_type:  # every fire would be skipped
        await client.create_schedule("typed", "stamped", 42, interval=timedelta(seconds=5))

    assert bad_cron.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_cron.value.reason == "INVALID_SCHEDULE" and len(str(bad_cron.value)) < 300
    assert "time_zone" in str(bad_zone.value)
    assert "whole seconds" in str(too_often.value)
    assert unknown.value.code == grpc.StatusCode.NOT_FOUND
    assert wrong_type.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert wrong_type.value.reason == "INPUT_TYPE_MISMATCH"
    assert "start executor 'stamp' takes string; the schedule's input has type 'integer'" in str(
        wrong_type.value
    )
    assert [s async for s in client.list_schedules()] == []


async def cli(cluster: Cluster, *args: str) -> Result:
    return await stepline(*args, address=cluster.runner.address)


async def test_the_schedule_commands(cluster: Cluster, client: RunnerClient) -> None:
    created = await cli(
        cluster,
        "schedule", "create", "nightly", "-w", "stamped", "-i", '"night"',
        "--cron", "30 2 * * *", "--time-zone", "Europe/Paris", "--jitter", "5m",
        "--overlap", "queue", "--catch-up", "one",
    )  # fmt: skip
    listed = await cli(cluster, "schedule", "list", "--json")
    paused = await cli(cluster, "schedule", "pause", "nightly")
    got = await cli(cluster, "schedule", "get", "nightly", "--json")
    resumed = await cli(cluster, "schedule", "resume", "nightly")
    bad = await cli(cluster, "schedule", "create", "x", "-w", "stamped", "-i", "1", "--cron", "* *")
    both = await cli(cluster, "schedule", "create", "x", "-w", "stamped", "-i", "1")
    deleted = await cli(cluster, "schedule", "delete", "nightly")
    gone = await cli(cluster, "schedule", "get", "nightly")

    assert created.code == 0, created.stderr
    assert "cron 30 2 * * * (Europe/Paris)" in created.stdout
    assert "QUEUE" in created.stdout and "300s" in created.stdout
    (schedule,) = json.loads(listed.stdout)
    assert schedule["spec"]["schedule_id"] == "nightly"
    assert schedule["spec"]["overlap"] == "SCHEDULE_OVERLAP_QUEUE"
    assert "paused" in paused.stdout and json.loads(got.stdout)["paused"] is True
    assert resumed.code == 0 and "active" in resumed.stdout
    assert bad.code == 1 and "INVALID_ARGUMENT [INVALID_SCHEDULE]" in bad.stderr
    assert both.code == 2 and "give one of --cron and --every" in both.stderr
    assert deleted.code == 0 and gone.code == 1 and "SCHEDULE_NOT_FOUND" in gone.stderr


async def test_run_list_shows_queued_runs(cluster: Cluster, client: RunnerClient) -> None:
    await client.register_workflow(
        WorkflowBuilder("one-at-a-time", max_concurrent_runs=1)
        .add_executor("ask", cluster.addresses[0], type="asker")
        .set_start_executor("ask")
        .build()
    )
    await client.start_run("one-at-a-time", 1, run_id="first")
    await client.start_run("one-at-a-time", 2, run_id="second")
    listed = await cli(cluster, "run", "list", "--workflow", "one-at-a-time", "--status", "queued")

    assert listed.code == 0, listed.stderr
    assert "second" in listed.stdout and "QUEUED" in listed.stdout
    assert "first" not in listed.stdout
    for run_id in ("second", "first"):
        await client.cancel_run(run_id)
