"""The reference-session-cancel check fails services whose `cancel` stops
more than its own call: the Python SDK's service over real gRPC with one
fault in its Session stream, answering the other calls not at all, or with
CANCELLED."""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from stepline._session import Reply, SessionCalls
from stepline.conformance import REFERENCE_CHECKS, REFERENCE_TYPE, CheckResult, connect
from stepline.conformance.reference import Reference
from stepline.host import ExecutorHost
from stepline.limits import SESSION_BATCHES, SESSION_CANCELS
from stepline.serve import _Servicer, timed_reply
from stepline.v1 import executor_pb2, executor_pb2_grpc

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    Ctx = grpc.aio.ServicerContext[Any, Any]

pytestmark = pytest.mark.asyncio


class StopsAll(SessionCalls):
    """A cancel stops every call of the stream, which send no reply."""

    def _cancel(self, call_id: int) -> None:
        for running in list(self._running):
            super()._cancel(running)


class StopsAllLoudly(SessionCalls):
    """A cancel stops every call of the stream (one signal for all, as a Node
    service might share one), the others answering CANCELLED."""

    def __init__(self, context: Ctx, reply: Reply, most: int) -> None:
        self.stopped = asyncio.Event()

        async def stoppable(request: executor_pb2.SessionRequest) -> executor_pb2.SessionReply:
            work = asyncio.ensure_future(reply(request))
            stop = asyncio.ensure_future(self.stopped.wait())
            await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if work.done():
                return work.result()
            work.cancel()
            code = grpc.StatusCode.CANCELLED.value[0]
            return executor_pb2.SessionReply(call_id=request.call_id, code=code)

        super().__init__(context, stoppable, most)

    def _cancel(self, call_id: int) -> None:
        self.stopped.set()
        super()._cancel(call_id)


def service(calls: type[SessionCalls]) -> _Servicer:
    """The Python SDK's service, hosting the reference type, with `calls`
    serving its Session streams."""

    class Faulty(_Servicer):
        async def Session(  # type: ignore[override]
            self, request_iterator: AsyncIterator[executor_pb2.SessionRequest], context: Ctx
        ) -> None:
            await context.send_initial_metadata((SESSION_BATCHES, SESSION_CANCELS))
            await calls(context, functools.partial(timed_reply, self.host), 8).serve()

    return Faulty(ExecutorHost({REFERENCE_TYPE: Reference}))


async def session_cancel_check(servicer: _Servicer) -> CheckResult:
    server = grpc.aio.server()
    executor_pb2_grpc.add_ExecutorServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        suite = await connect(f"127.0.0.1:{port}", executor_type=REFERENCE_TYPE)
        try:
            checks = [c for c in REFERENCE_CHECKS if c.name == "reference-session-cancel"]
            [result] = await suite.run(checks)
        finally:
            await suite.close()
    finally:
        await server.stop(None)
    return result


@pytest.mark.parametrize(
    ("calls", "reason"),
    [
        (StopsAll, "ended without answering call 3"),
        (StopsAllLoudly, "call 3 (a 1000 ms Ref wait made beside the cancelled call) failed"),
    ],
)
async def test_a_cancel_that_stops_other_calls_fails_the_check(
    calls: type[SessionCalls], reason: str
) -> None:
    result = await session_cancel_check(service(calls))

    assert not result.passed, result.detail
    assert reason in result.detail, result.detail


async def test_the_sdks_own_session_stream_passes_it() -> None:
    result = await session_cancel_check(service(SessionCalls))

    assert result.passed, result.detail
    assert "the call beside it ended" in result.detail
