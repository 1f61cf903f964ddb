"""A service whose Session stream sends its headers only with its first
reply (gRPC's default, if it never sends its initial metadata itself) says
nothing of how many calls it runs at once until then: the runner's calls
on the shared stream go one at a time only briefly (HEADERS_WAIT), then
unbounded, not all behind a first call that may take an hour (review of
fe63e6d)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc

from stepline.v1 import executor_pb2, executor_pb2_grpc
from stepline_runner.api.executor_session import ExecuteSession


class LateHeaders(executor_pb2_grpc.ExecutorServiceServicer):
    """Answers each Session call as it is done; "slow" once `go` is set."""

    def __init__(self) -> None:
        self.go = asyncio.Event()

    async def Session(  # type: ignore[override]
        self, requests: AsyncIterator[executor_pb2.SessionRequest], context: Any
    ) -> None:
        writing = asyncio.Lock()

        async def answer(request: executor_pb2.SessionRequest) -> None:
            if request.execute.run_id == "slow":
                await self.go.wait()
            async with writing:
                reply = executor_pb2.SessionReply(call_id=request.call_id)
                reply.execute.SetInParent()
                await context.write(reply)

        calls = [asyncio.ensure_future(answer(r)) async for r in requests]
        await asyncio.gather(*calls)


async def test_calls_do_not_wait_behind_a_first_call_for_the_headers() -> None:
    service = LateHeaders()  # type: ignore[abstract]  # Session alone is called
    server = grpc.aio.server()
    executor_pb2_grpc.add_ExecutorServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    session = ExecuteSession("late", executor_pb2_grpc.ExecutorServiceStub(channel))

    def call(run_id: str) -> asyncio.Future[executor_pb2.ExecuteResponse]:
        return asyncio.ensure_future(
            session.execute(executor_pb2.ExecuteRequest(run_id=run_id), None)
        )

    try:
        lone = call("lone")  # the lone stream: the others share the other one
        slow = call("slow")
        fast = [call(f"fast-{i}") for i in range(3)]
        async with asyncio.timeout(10):
            await asyncio.gather(lone, *fast)  # while "slow" holds the first slot
        assert not slow.done()
        service.go.set()
        await asyncio.wait_for(slow, 10)
    finally:
        service.go.set()
        await session.close()
        await channel.close(None)
        await server.stop(None)
