"""The runner takes a Session reply for a call only when it carries that
call's id: a service that answers an earlier call again (a bug in its Session
code, a late second reply) must not hand one run's reply to another run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from stepline.v1 import executor_pb2, executor_pb2_grpc
from stepline_runner.api.executor_session import ExecuteSession


async def answers_twice(
    requests: AsyncIterator[executor_pb2.SessionRequest], context: Any
) -> AsyncIterator[executor_pb2.SessionReply]:
    """Before each answer, the reply to the request before it once more."""
    previous: executor_pb2.SessionReply | None = None
    async for request in requests:
        if previous is not None:
            yield previous
        previous = executor_pb2.SessionReply(call_id=request.call_id)
        previous.execute.incarnation_id = f"answer for run {request.execute.run_id}"
        yield previous


SESSION_ONLY = grpc.method_handlers_generic_handler(
    "stepline.v1.ExecutorService",
    {
        "Session": grpc.stream_stream_rpc_method_handler(
            answers_twice,
            request_deserializer=executor_pb2.SessionRequest.FromString,
            response_serializer=executor_pb2.SessionReply.SerializeToString,
        )
    },
)


async def test_a_reply_to_an_earlier_call_is_not_taken_for_the_next() -> None:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([SESSION_ONLY])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    endpoint = f"127.0.0.1:{port}"
    channel = grpc.aio.insecure_channel(endpoint)
    session = ExecuteSession(endpoint, executor_pb2_grpc.ExecutorServiceStub(channel))
    try:
        got = [
            (await session.execute(executor_pb2.ExecuteRequest(run_id=run), 10)).incarnation_id
            for run in ("A", "B", "C")
        ]
    finally:
        await session.close()
        await channel.close(None)
        await server.stop(None)
    assert got == ["answer for run A", "answer for run B", "answer for run C"]
