"""`RunnerClient.watch_all`'s stream is cancelled as soon as its reader drops
it (a `break` out of `async for`), by reference counting alone: the runner
then drops the subscription at once, not after the client's next cyclic
collection. (A generator method holding its `LiveEvents` was a cycle.)"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest

from stepline import RunnerClient
from stepline.v1 import events_pb2, runner_pb2


class Endless:
    """A runner whose WatchRuns sends events until its caller cancels the stream."""

    def __init__(self) -> None:
        self.cancelled = asyncio.Event()

    async def WatchRuns(
        self, request: runner_pb2.WatchRunsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[runner_pb2.WatchRunsResponse]:
        try:
            while True:
                yield runner_pb2.WatchRunsResponse(events=[events_pb2.Event(run_id="r")])
        finally:  # cancelled, or closed
            self.cancelled.set()


@pytest.fixture
def no_cyclic_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def test_a_stream_dropped_after_a_break_is_cancelled_at_once(no_cyclic_gc: None) -> None:
    servicer = Endless()
    server = grpc.aio.server()
    watch_runs = grpc.unary_stream_rpc_method_handler(
        servicer.WatchRuns,
        request_deserializer=runner_pb2.WatchRunsRequest.FromString,
        response_serializer=runner_pb2.WatchRunsResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "stepline.v1.RunnerService", {"WatchRuns": watch_runs}
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with RunnerClient(f"127.0.0.1:{port}") as client:
            async for event in client.watch_all():
                assert event.run_id == "r"
                break
            async with asyncio.timeout(10):  # a guard against hanging, not a measure
                await servicer.cancelled.wait()  # before the fix: never, with the GC off
    finally:
        await server.stop(None)
