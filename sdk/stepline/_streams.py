"""The runner's event streams as the client reads them: one run's events,
reconnecting after a runner restart without a gap or a repeat, and every
run's live events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import grpc

from stepline.errors import from_rpc_error
from stepline.v1 import events_pb2, runner_pb2, runner_pb2_grpc

Metadata = tuple[tuple[str, str], ...]


async def run_events(
    channel: grpc.aio.Channel,
    stub: runner_pb2_grpc.RunnerServiceAsyncStub,
    metadata: Metadata,
    request: runner_pb2.WatchRunRequest,
    reconnect_timeout: float,
) -> AsyncGenerator[events_pb2.Event, None]:
    """`request`'s events; on UNAVAILABLE, wait for the runner up to
    `reconnect_timeout` seconds and ask again after the last event delivered."""
    while True:
        stream = stub.WatchRun(request, metadata=metadata)
        try:
            async for response in stream:
                events = response.events
                for event in events:
                    yield event
                # Only a read of the stream fails, so never within a response.
                if events:
                    request.after_sequence = events[-1].sequence
            return
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE:
                raise from_rpc_error(exc) from exc
            await _reconnect(channel, exc, reconnect_timeout)
        finally:
            stream.cancel()


async def all_events(
    stub: runner_pb2_grpc.RunnerServiceAsyncStub,
    metadata: Metadata,
    request: runner_pb2.WatchRunsRequest,
) -> AsyncGenerator[events_pb2.Event, None]:
    """Live events of every run (or of one workflow's runs), errors mapped."""
    stream = stub.WatchRuns(request, metadata=metadata)
    try:
        async for response in stream:
            for event in response.events:
                yield event
    except grpc.aio.AioRpcError as exc:
        raise from_rpc_error(exc) from exc
    finally:
        stream.cancel()


async def _reconnect(
    channel: grpc.aio.Channel, error: grpc.aio.AioRpcError, timeout: float
) -> None:
    """Wait (on the channel, not a clock) until the runner answers again."""
    try:
        async with asyncio.timeout(timeout):
            await channel.channel_ready()
    except TimeoutError:
        raise from_rpc_error(error) from error
