"""Stalled dashboards cost the runner bounded memory: 20 WatchRuns
subscribers that read nothing while a run yields 60 outputs of 1 MB. Each
is ended (RESOURCE_EXHAUSTED, saying how to catch up) once it falls more than
its buffer behind, and the runner's peak RSS stays under a stated bound."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from stepline import WorkflowBuilder
from stepline.limits import GRPC_MESSAGE_OPTIONS
from stepline.v1 import runner_pb2, runner_pb2_grpc
from tests.executors.blobs import Emit
from tests.support.cluster import Cluster, cluster_fixture

pytestmark = pytest.mark.asyncio(loop_scope="module")

SUBSCRIBERS = 20
OUTPUTS, OUTPUT_BYTES = 60, 1_000_000
BUFFER = 8 * 1024 * 1024
# What the runner may grow by: the run itself (its 1 MB outputs through
# SaveCheckpoint, the store, the run's 4 MiB tail; ~35 MB with one
# subscriber), and per stalled subscriber a 1 MiB response in flight plus what
# the transport holds for it (~3 MB each). Measured: ~90 MB with 20; before
# the byte bounds it was ~360 MB (RSS 59 -> 416 MB).
GROWTH_BOUND = 150 * 1024 * 1024

# A dashboard that reads nothing must stall its stream at the runner. With
# gRPC's BDP probing its channel may instead raise its HTTP/2 windows (the more
# so the slower a loaded machine answers pings) until it takes in all 60 MB
# unread; the runner's writes then never wait, its buffer never fills, and
# nothing ends the stream. Without probing the window stays 64 KiB.
STALLED_OPTIONS = [*GRPC_MESSAGE_OPTIONS, ("grpc.http2.bdp_probe", 0)]

cluster = cluster_fixture(
    "blobs", scope="module", runner_options=("--limit", f"watch_buffer_bytes={BUFFER}")
)


def rss(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


async def test_stalled_dashboards_cost_bounded_memory_and_are_told_to_catch_up(
    cluster: Cluster,
) -> None:
    client = cluster.client()
    (endpoint,) = cluster.addresses
    await client.register_workflow(
        WorkflowBuilder("blobs", max_supersteps=OUTPUTS + 1)
        .add_executor("b", endpoint, type="blobs")
        .add_edge("b", "b")
        .set_start_executor("b")
        .build()
    )
    channels = [
        grpc.aio.insecure_channel(cluster.runner.address, options=STALLED_OPTIONS)
        for _ in range(SUBSCRIBERS)
    ]
    try:
        streams = [
            runner_pb2_grpc.RunnerServiceStub(c).WatchRuns(runner_pb2.WatchRunsRequest())
            for c in channels
        ]
        # Each reads one response; the subscription is live once the runner
        # has it, and a run it sees proves it.
        firsts = [asyncio.ensure_future(s.read()) for s in streams]
        while not all(f.done() for f in firsts):
            await client.run("blobs", Emit(1, 10))
        for first in firsts:
            assert isinstance(first.result(), runner_pb2.WatchRunsResponse)
        pid = cluster.runner.process.pid
        before = rss(pid, "VmRSS")

        # Now nobody reads while 60 MB of outputs go by.
        result = await client.run("blobs", Emit(OUTPUTS, OUTPUT_BYTES))
        assert len(result.outputs) == OUTPUTS

        peak = rss(pid, "VmHWM")
        print(f"runner RSS {before / 2**20:.0f} MB before, peak {peak / 2**20:.0f} MB")
        assert peak - before < GROWTH_BOUND, f"grew by {(peak - before) / 2**20:.0f} MB"
        stream = streams[0]
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            while True:
                assert await stream.read() is not grpc.aio.EOF  # type: ignore[attr-defined]
        assert ended.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "WatchRun from the last sequence you saw" in (ended.value.details() or "")
    finally:
        for channel in channels:
            await channel.close(None)
