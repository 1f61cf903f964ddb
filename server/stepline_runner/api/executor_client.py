"""`GrpcExecutors`: the engine's `ExecutorPort` over gRPC, one channel per endpoint."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import grpc

from stepline.errors import error_info
from stepline.limits import GRPC_CHANNEL_OPTIONS
from stepline.v1 import executor_pb2, executor_pb2_grpc

from ..engine.ports import ExecutorCallError
from .executor_session import ExecuteSession
from .executor_tls import ExecutorChannels

Req = TypeVar("Req")
Resp = TypeVar("Resp")

END_RUN_TIMEOUT = 5.0
# A restore waits this long for a restarting service to accept it, and on top
# of that a second per RESTORE_BYTES_PER_SECOND of state: a large state's
# transfer and the service's restore of it are not a service that is away
# (a 64 MiB state took over 2 s on a loaded 2-core machine).
RESTORE_TIMEOUT = 2.0
RESTORE_BYTES_PER_SECOND = 4 * 1024 * 1024


def restore_timeout(request: executor_pb2.RestoreCheckpointRequest) -> float:
    """Seconds a RestoreCheckpoint call may take, by the size of its state."""
    # upb counts the size by encoding the state (some 0.2 s for 64 MiB on a
    # loaded machine): one more pass on a path that reads, hashes and sends it
    # anyway, taken only when a run is put back in hand, never per superstep.
    return RESTORE_TIMEOUT + request.state.ByteSize() / RESTORE_BYTES_PER_SECOND


class SessionCalls(Protocol):
    """What times and traces the Execute calls on Session streams, which no
    interceptor sees (`observability.grpc_calls.ExecutorCalls`)."""

    async def session_call(
        self,
        request: executor_pb2.ExecuteRequest | executor_pb2.EndRunRequest,
        call: Callable[[Mapping[str, str]], Awaitable[Resp]],
        method: str = "Execute",
    ) -> Resp:
        """Make `call(trace_context)`, timed and traced as `method`."""
        ...


class GrpcExecutors:
    def __init__(
        self,
        interceptors: Sequence[Any] = (),
        dial: ExecutorChannels | None = None,
        session_calls: SessionCalls | None = None,
    ) -> None:
        # Telemetry's, when on: they time and trace each unary call, and
        # `session_calls` each call on a Session stream.
        self._interceptors = list(interceptors)
        self._session_calls = session_calls
        # TLS and credentials per endpoint (--executor-tls); plaintext without.
        self.dial = dial or ExecutorChannels()
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._stubs: dict[str, executor_pb2_grpc.ExecutorServiceAsyncStub] = {}
        self._sessions: dict[str, ExecuteSession] = {}

    async def describe(
        self, endpoint: str, timeout: float | None = None
    ) -> executor_pb2.DescribeResponse:
        stub = self._stub(endpoint)
        return await _call(endpoint, stub.Describe, executor_pb2.DescribeRequest(), timeout)

    async def execute(
        self,
        endpoint: str,
        request: executor_pb2.ExecuteRequest,
        timeout: float | None = None,
        session: bool = False,
    ) -> executor_pb2.ExecuteResponse:
        if not session:
            return await _call(endpoint, self._stub(endpoint).Execute, request, timeout)
        stream = self._session(endpoint)
        if self._session_calls is None:
            return await stream.execute(request, timeout)
        return await self._session_calls.session_call(
            request, lambda trace_context: stream.execute(request, timeout, trace_context)
        )

    async def save(
        self, endpoint: str, request: executor_pb2.SaveCheckpointRequest
    ) -> executor_pb2.SaveCheckpointResponse:
        return await _call(endpoint, self._stub(endpoint).SaveCheckpoint, request)

    async def restore(
        self, endpoint: str, request: executor_pb2.RestoreCheckpointRequest
    ) -> executor_pb2.RestoreCheckpointResponse:
        # Restores follow a restart of the service more often than not: wait
        # (briefly) for it to accept connections rather than fail at once.
        stub = self._stub(endpoint)
        return await _call(
            endpoint,
            stub.RestoreCheckpoint,
            request,
            restore_timeout(request),
            wait_for_ready=True,
        )

    async def end_run(
        self, endpoint: str, request: executor_pb2.EndRunRequest, session: bool = False
    ) -> executor_pb2.EndRunResponse:
        unary = self._stub(endpoint).EndRun
        if not session:
            return await _call(endpoint, unary, request, END_RUN_TIMEOUT)
        stream = self._session(endpoint)
        try:
            if self._session_calls is None:
                return await stream.end_run(request, END_RUN_TIMEOUT)
            return await self._session_calls.session_call(
                request,
                lambda trace_context: stream.end_run(request, END_RUN_TIMEOUT, trace_context),
                "EndRun",
            )
        except ExecutorCallError as exc:
            if exc.unreachable:
                raise
            # A service that refused it on the stream (a bug, or an older build
            # that took it for an Execute) still releases the run's objects.
            return await _call(endpoint, unary, request, END_RUN_TIMEOUT)

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()
        for channel in self._channels.values():
            await channel.close(None)
        self._channels.clear()
        self._stubs.clear()

    def _session(self, endpoint: str) -> ExecuteSession:
        """The Session streams to `endpoint` (which open new ones for broken ones)."""
        session = self._sessions.get(endpoint)
        if session is None:
            session = self._sessions[endpoint] = ExecuteSession(endpoint, self._stub(endpoint))
        return session

    def _stub(self, endpoint: str) -> executor_pb2_grpc.ExecutorServiceAsyncStub:
        stub = self._stubs.get(endpoint)
        if stub is None:
            channel = self.dial.open(endpoint, GRPC_CHANNEL_OPTIONS, self._interceptors or None)
            self._channels[endpoint] = channel
            stub = self._stubs[endpoint] = executor_pb2_grpc.ExecutorServiceStub(channel)
        return stub


async def _call(
    endpoint: str,
    method: grpc.aio.UnaryUnaryMultiCallable[Req, Resp],
    request: Req,
    timeout: float | None = None,
    wait_for_ready: bool = False,
) -> Resp:
    """The one place executor calls go through: a failed call becomes the
    engine's `ExecutorCallError`, which names the status without gRPC."""
    try:
        return await method(request, timeout=timeout, wait_for_ready=wait_for_ready)
    except grpc.aio.AioRpcError as exc:
        info = error_info(exc)  # the reason, when the service gave one (a stale epoch)
        reason = info.reason if info is not None else ""
        raise ExecutorCallError(endpoint, exc.code().name, exc.details() or "", reason) from exc
