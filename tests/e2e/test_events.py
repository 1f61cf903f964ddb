"""Event streams: nothing missed, nothing twice, any number of subscribers."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from stepline import RunnerClient
from stepline.v1 import events_pb2 as E
from stepline.v1 import runner_pb2, runner_pb2_grpc
from tests.executors.stages import Token
from tests.support.cluster import Cluster, cluster_fixture
from tests.support.runs import stage_loop

pytestmark = pytest.mark.asyncio(loop_scope="module")

# One cluster for the module; the runner comes back at its address after a kill.
cluster = cluster_fixture("stages", "stages", scope="module", fixed_ports=True)


def key(event: E.Event) -> tuple[int, bytes]:
    without_time = E.Event()
    without_time.CopyFrom(event)
    return event.sequence, without_time.SerializeToString(deterministic=True)


async def test_a_watcher_survives_a_runner_restart_and_misses_nothing(cluster: Cluster) -> None:
    client = cluster.client()
    await client.register_workflow(stage_loop("chain", cluster.addresses))
    run = await client.start_run("chain", Token(value=2, hops=0, limit=18, delay_ms=40))
    seen: list[E.Event] = []
    halfway = asyncio.Event()

    async def watch() -> None:
        async for event in client.watch(run.run_id):
            seen.append(event)
            if event.kind == E.EVENT_KIND_SUPERSTEP_COMPLETED and event.superstep == 4:
                halfway.set()

    watcher = asyncio.create_task(watch())
    await halfway.wait()
    await cluster.restart_runner()  # SIGKILL; the new runner resumes the run by itself
    async with asyncio.timeout(60):
        await watcher

    assert [e.sequence for e in seen] == list(range(1, len(seen) + 1))
    assert seen[-1].status == E.RUN_STATUS_COMPLETED
    assert len([e for e in seen if e.kind == E.EVENT_KIND_OUTPUT]) == 1
    async with RunnerClient(cluster.runner.address) as late:
        afterwards = [e async for e in late.watch(run.run_id)]
    assert [key(e) for e in seen] == [key(e) for e in afterwards]


async def test_a_hundred_subscribers_receive_identical_sequences(cluster: Cluster) -> None:
    client = cluster.client()
    await client.register_workflow(stage_loop("chain", cluster.addresses))
    run = await client.start_run("chain", Token(value=5, hops=0, limit=12, delay_ms=10))

    async def subscribe() -> list[tuple[int, bytes]]:
        return [key(e) async for e in client.watch(run.run_id)]

    streams = await asyncio.gather(*(subscribe() for _ in range(100)))

    assert all(s == streams[0] for s in streams)
    assert [s for s, _ in streams[0]] == list(range(1, len(streams[0]) + 1))


async def test_a_stalled_subscriber_does_not_hold_up_the_run(cluster: Cluster) -> None:
    client = cluster.client()
    await client.register_workflow(stage_loop("chain", cluster.addresses))
    channel = grpc.aio.insecure_channel(cluster.runner.address)
    stalled: list[
        grpc.aio.UnaryStreamCall[runner_pb2.WatchRunRequest, runner_pb2.WatchRunResponse]
    ] = []
    try:
        stub = runner_pb2_grpc.RunnerServiceStub(channel)
        run = await client.start_run("chain", Token(value=1, hops=0, limit=150))
        # Opened and never read: gRPC flow control pushes back on the runner.
        call = stub.WatchRun(runner_pb2.WatchRunRequest(run_id=run.run_id))
        stalled.append(call)
        result = await client.wait(run.run_id)
        assert result.run.status == E.RUN_STATUS_COMPLETED
        assert result.run.superstep == 150
        # A second run completes just the same while the stalled stream stays open.
        second = await client.run("chain", Token(value=1, hops=0, limit=150))
        assert second.run.superstep == 150
        assert not call.done()
    finally:
        for call in stalled:
            call.cancel()
        await channel.close(None)


async def test_kinds_filter_and_after_sequence(cluster: Cluster) -> None:
    client = cluster.client()
    await client.register_workflow(stage_loop("chain", cluster.addresses))
    result = await client.run("chain", Token(value=1, hops=0, limit=6))
    run_id = result.run.run_id

    outputs = [e async for e in client.watch(run_id, kinds=[E.EVENT_KIND_OUTPUT])]
    tail = [e async for e in client.watch(run_id, after=result.events[-3].sequence)]

    assert [e.kind for e in outputs] == [E.EVENT_KIND_OUTPUT]
    assert [key(e) for e in tail] == [key(e) for e in result.events[-2:]]


async def test_watch_all_runs_sees_every_run_of_a_workflow(cluster: Cluster) -> None:
    client = cluster.client()
    await client.register_workflow(stage_loop("chain", cluster.addresses))
    starts: list[E.Event] = []
    subscribed = asyncio.Event()

    async def dashboard() -> None:
        stream = client.watch_all(workflow_id="chain", kinds=[E.EVENT_KIND_RUN_STARTED])
        subscribed.set()
        async for event in stream:
            starts.append(event)
            if len(starts) == 3:
                return

    task = asyncio.create_task(dashboard())
    await subscribed.wait()
    # The subscription is live once the runner has it; a first run proves it.
    runs = []
    while not starts:
        runs.append(await client.run("chain", Token(value=1, hops=0, limit=3)))
    runs += [await client.run("chain", Token(value=1, hops=0, limit=3)) for _ in range(2)]
    async with asyncio.timeout(30):
        await task

    assert [e.run_id for e in starts] == [r.run.run_id for r in runs[-3:]]
