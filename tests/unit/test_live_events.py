"""`RunnerClient.watch_all`'s stream, against a stand-in runner on a loopback
port: it starts when first used, not when `watch_all()` is called; leaving
`async with` ends it; it is cancelled as soon as its reader drops it (a
`break` out of `async for`), by reference counting alone (a generator method
holding its `LiveEvents` was a cycle, cancelled at the next cyclic collection
only); `subscribed()` waits for the runner's initial metadata."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
import pytest_asyncio

from stepline import NotFoundError, RunnerClient
from stepline.v1 import events_pb2, runner_pb2


class Endless:
    """A runner whose WatchRuns, once `ready` is set, sends its initial
    metadata, then events until its caller cancels the stream; its GetRun
    knows no run (a round trip on the client's connection)."""

    def __init__(self) -> None:
        self.watches = 0
        self.entered = asyncio.Event()
        self.ready = asyncio.Event()
        self.ready.set()
        self.cancelled = asyncio.Event()

    async def WatchRuns(
        self, request: runner_pb2.WatchRunsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[runner_pb2.WatchRunsResponse]:
        self.watches += 1
        self.entered.set()
        try:
            await self.ready.wait()
            await context.send_initial_metadata(())
            while True:
                yield runner_pb2.WatchRunsResponse(events=[events_pb2.Event(run_id="r")])
        finally:  # cancelled, or closed
            self.cancelled.set()

    async def GetRun(
        self, request: runner_pb2.GetRunRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> runner_pb2.GetRunResponse:
        await context.abort(grpc.StatusCode.NOT_FOUND, "no run")


@pytest_asyncio.fixture
async def runner() -> AsyncIterator[tuple[Endless, str]]:
    servicer = Endless()
    server = grpc.aio.server()
    handlers = {
        "WatchRuns": grpc.unary_stream_rpc_method_handler(
            servicer.WatchRuns,
            request_deserializer=runner_pb2.WatchRunsRequest.FromString,
            response_serializer=runner_pb2.WatchRunsResponse.SerializeToString,
        ),
        "GetRun": grpc.unary_unary_rpc_method_handler(
            servicer.GetRun,
            request_deserializer=runner_pb2.GetRunRequest.FromString,
            response_serializer=runner_pb2.GetRunResponse.SerializeToString,
        ),
    }
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("stepline.v1.RunnerService", handlers)]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield servicer, f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


@pytest.fixture
def no_cyclic_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def round_trip(client: RunnerClient) -> None:
    """A call answered on the client's connection: a stream the client had
    started before it would have reached the runner by its answer."""
    with pytest.raises(NotFoundError):
        await client.get_run("r")


async def test_the_stream_starts_when_used_and_ends_with_async_with(
    runner: tuple[Endless, str],
) -> None:
    servicer, address = runner
    async with RunnerClient(address) as client:
        events = client.watch_all()
        await round_trip(client)
        assert servicer.watches == 0  # before: the call itself started it

        async with events:
            await events.subscribed()
            assert servicer.watches == 1
            assert (await anext(events)).run_id == "r"
        async with asyncio.timeout(10):  # a guard against hanging, not a measure
            await servicer.cancelled.wait()

        unused = client.watch_all()
        await unused.aclose()  # never started: nothing to end, and it stays ended
        await unused.subscribed()
        assert [event async for event in unused] == []
        await round_trip(client)
        assert servicer.watches == 1


async def test_subscribed_waits_for_the_runner_s_initial_metadata(
    runner: tuple[Endless, str],
) -> None:
    servicer, address = runner
    servicer.ready.clear()
    async with RunnerClient(address) as client, client.watch_all() as events:
        subscribed = asyncio.ensure_future(events.subscribed())
        await servicer.entered.wait()
        await round_trip(client)
        assert not subscribed.done()  # the runner holds its metadata back
        servicer.ready.set()
        async with asyncio.timeout(10):  # a guard against hanging, not a measure
            await subscribed


async def test_a_stream_dropped_after_a_break_is_cancelled_at_once(
    runner: tuple[Endless, str], no_cyclic_gc: None
) -> None:
    servicer, address = runner
    async with RunnerClient(address) as client:
        async for event in client.watch_all():
            assert event.run_id == "r"
            break
        async with asyncio.timeout(10):  # a guard against hanging, not a measure
            await servicer.cancelled.wait()  # before that fix: never, with the GC off
