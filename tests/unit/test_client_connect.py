"""A client's first call, and the runner's first call to an executor
service, wait out a slow connection handshake (a loaded machine, a service
busy starting) instead of failing it as unreachable: their channels give a
connection attempt gRPC's 20 s, not the 100 ms of their reconnect backoff."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import grpc
import pytest

from stepline import RunnerClient, SteplineError
from stepline_runner.api.executor_client import GrpcExecutors
from stepline_runner.engine.ports import ExecutorCallError

SLOW_HANDSHAKE = 0.5  # seconds: well past 100 ms, far below 20 s


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy `reader` to `writer`, holding the first bytes back `delay` seconds."""
    with contextlib.suppress(ConnectionError):
        first = True
        while data := await reader.read(65536):
            if first:
                await asyncio.sleep(delay)  # the slow handshake itself, not a wait on anything
                first = False
            writer.write(data)
            await writer.drain()
    writer.close()


@contextlib.asynccontextmanager
async def slow_server() -> AsyncIterator[str]:
    """A gRPC server with no services, behind a proxy that holds its first
    reply (the HTTP/2 SETTINGS that end a connection's handshake) back."""
    server = grpc.aio.server()
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        tasks.add(asyncio.create_task(pipe(reader, up_writer, 0)))
        tasks.add(asyncio.create_task(pipe(up_reader, writer, SLOW_HANDSHAKE)))

    proxy = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"127.0.0.1:{proxy.sockets[0].getsockname()[1]}"
    finally:
        proxy.close()
        for task in tasks:
            task.cancel()
        await server.stop(None)


async def test_the_first_call_waits_out_a_slow_handshake() -> None:
    async with slow_server() as address, RunnerClient(address) as client:
        with pytest.raises(SteplineError) as caught:
            await client.get_run("r1")

    # It reached the server (which serves nothing), rather than UNAVAILABLE.
    assert caught.value.code == grpc.StatusCode.UNIMPLEMENTED, caught.value


async def test_the_runners_first_call_to_an_executor_waits_out_a_slow_handshake() -> None:
    executors = GrpcExecutors()
    try:
        async with slow_server() as address:
            with pytest.raises(ExecutorCallError) as caught:
                await executors.describe(address, timeout=60)
    finally:
        await executors.close()

    assert caught.value.code == "UNIMPLEMENTED", caught.value
