"""`ExecuteSession`: Execute calls to one executor service on one open stream.

For a service that advertises `features.session`: each call is a request on
the stream with a `call_id` and comes back as the reply with that id, in any
order, so the calls of many runs share the stream without a call's set-up
each. A reply's status is the one the unary Execute would have had. A
stream that breaks (the service stopped or restarted) fails the calls in
flight as UNAVAILABLE, as a unary call to it would, and the next call opens
a new stream.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping

import grpc

from stepline.v1 import executor_pb2, executor_pb2_grpc

from ..engine.ports import ExecutorCallError

_CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}


class ExecuteSession:
    def __init__(self, endpoint: str, stub: executor_pb2_grpc.ExecutorServiceAsyncStub) -> None:
        self._endpoint = endpoint
        # No request iterator: requests go by `write`, as calls come.
        self._call = stub.Session()  # type: ignore[call-arg]
        self._pending: dict[int, asyncio.Future[executor_pb2.SessionReply]] = {}
        self._ids = itertools.count(1)
        self._writing = asyncio.Lock()  # one write at a time on a stream
        self.broken: ExecutorCallError | None = None
        self._reader = asyncio.ensure_future(self._read())

    async def execute(
        self,
        request: executor_pb2.ExecuteRequest,
        timeout: float | None,
        trace_context: Mapping[str, str] | None = None,
    ) -> executor_pb2.ExecuteResponse:
        """`trace_context`: the call's W3C trace context, sent with it."""
        call_id = next(self._ids)
        future = self._pending[call_id] = asyncio.get_running_loop().create_future()
        message = executor_pb2.SessionRequest(call_id=call_id, execute=request)
        if trace_context:
            message.trace_context.update(trace_context)
        if timeout is not None:  # the service stops the handler then, as for a unary call
            message.timeout.FromNanoseconds(int(timeout * 1e9))
        try:
            async with asyncio.timeout(timeout):
                await self._write(message)
                reply: executor_pb2.SessionReply = await future
        except TimeoutError:
            raise ExecutorCallError(
                self._endpoint, "DEADLINE_EXCEEDED", "Deadline Exceeded"
            ) from None
        finally:
            self._pending.pop(call_id, None)
            if future.done() and not future.cancelled():
                # A stream that broke under this call's write failed its future
                # too; the write's error is what was raised, so mark this one
                # read (else it is logged when collected, mid-anything).
                future.exception()
        if reply.code:
            raise ExecutorCallError(
                self._endpoint, _CODE_NAMES.get(reply.code, "UNKNOWN"), reply.message, reply.reason
            )
        return reply.execute

    async def close(self) -> None:
        self._call.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)

    async def _write(self, request: executor_pb2.SessionRequest) -> None:
        if self.broken is not None:
            raise self.broken
        try:
            async with self._writing:
                await self._call.write(request)
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError, grpc.aio.UsageError) as exc:
            self._break(f"{type(exc).__name__}: {exc}")
            raise self.broken from exc  # type: ignore[misc]

    async def _read(self) -> None:
        try:
            async for reply in self._call:
                future = self._pending.get(reply.call_id)
                if future is not None and not future.done():
                    future.set_result(reply)
        except grpc.aio.AioRpcError as exc:
            self._break(f"{exc.code().name}: {exc.details() or ''}")
        except asyncio.CancelledError:
            self._break("the runner closed it")
        else:
            self._break("the service ended it")

    def _break(self, why: str) -> None:
        if self.broken is None:
            self.broken = ExecutorCallError(
                self._endpoint, "UNAVAILABLE", f"the Execute session stream broke ({why})"
            )
        for future in self._pending.values():
            if not future.done():
                future.set_exception(self.broken)
