"""The base of the servicers that put the Python SDK's host behind gRPC with
a fault injected between the two (the conformance suite must catch each)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import grpc

from stepline.executor import Executor
from stepline.host import ExecutorHost
from stepline.serve import host_error_details, host_error_status
from stepline.v1 import executor_pb2, executor_pb2_grpc

if TYPE_CHECKING:
    Ctx = grpc.aio.ServicerContext[Any, Any]

Request = TypeVar("Request")
Response = TypeVar("Response")


class Faulty(executor_pb2_grpc.ExecutorServiceServicer):
    """Hosts `executors` with one `fault`, unary calls only: its faults are
    in its unary Execute, so it does not advertise the Session stream."""

    def __init__(self, executors: Mapping[str, type[Executor]], fault: str) -> None:
        self.host = ExecutorHost(executors)
        self.fault = fault

    async def Describe(
        self, request: executor_pb2.DescribeRequest, context: Ctx
    ) -> executor_pb2.DescribeResponse:
        described = self.host.describe()
        described.features.session = False
        return described

    async def Session(
        self, request_iterator: AsyncIterator[executor_pb2.SessionRequest], context: Ctx
    ) -> AsyncIterator[executor_pb2.SessionReply]:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not advertised")
        yield executor_pb2.SessionReply()  # never reached; makes this a stream handler

    async def _call(
        self, method: Callable[[Request], Awaitable[Response]], request: Request, context: Ctx
    ) -> Response:
        """`method(request)`, the host's errors sent as the statuses `stepline.serve`
        sends them (`_status` may change one: a fault)."""
        try:
            return await method(request)
        except Exception as exc:
            code = self._status(exc)
            if code is not None:
                await context.abort(code, str(exc), host_error_details(code, exc))
            raise

    def _status(self, exc: Exception) -> grpc.StatusCode | None:
        return host_error_status(exc)
