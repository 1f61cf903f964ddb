"""gRPC interceptors of the runner: executor calls timed and traced (with
``traceparent`` sent on), event streams counted.

Execute calls on a Session stream pass no interceptor: `ExecutorCalls`
times and traces each of them too (`session_call`), with the same metrics
and span names, its trace context sent in the call's request."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

import grpc
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

from stepline.errors import error_info_in
from stepline.reasons import Reason
from stepline.telemetry import call_status, inject_metadata, method_name, record_status
from stepline.v1 import executor_pb2

from ..engine.ports import ExecutorCallError
from .logs import WORKFLOW_ID
from .metrics import RunnerMetrics

R = TypeVar("R")


class ExecutorCalls(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[type-arg]
    """On the channels to executor services: a client span per call (child of
    the superstep's), its context sent as ``traceparent``, and its latency
    by workflow, executor type and method."""

    def __init__(self, metrics: RunnerMetrics | None, tracer: trace.Tracer | None) -> None:
        self.metrics = metrics
        self.tracer = tracer

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[Any]],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        method = method_name(client_call_details).rsplit("/", 1)[-1]
        started = time.perf_counter()
        with self._span(method, request) as span:
            if span is not None:
                client_call_details = inject_metadata(client_call_details)
            call = await continuation(client_call_details, request)
            code = await call_status(call)
            if span is not None and code != grpc.StatusCode.OK:
                record_status(span, code)
        self._measure(method, request, started, code.name)
        return call

    async def session_call(
        self,
        request: executor_pb2.ExecuteRequest | executor_pb2.EndRunRequest,
        call: Callable[[Mapping[str, str]], Awaitable[R]],
        method: str = "Execute",
    ) -> R:
        """Time and trace one call of `method` (Execute, EndRun) on a Session
        stream as the interceptor does a unary one: `call(trace_context)`
        makes it, sending the context (W3C keys) with the request."""
        started = time.perf_counter()
        with self._span(method, request, session=True) as span:
            carrier: dict[str, str] = {}
            if span is not None:
                propagate.inject(carrier)
            try:
                response = await call(carrier)
            except ExecutorCallError as exc:
                if span is not None:
                    record_status(span, _status(exc.code))
                self._measure(method, request, started, exc.code)
                raise
        self._measure(method, request, started, "OK")
        return response

    def _span(
        self, method: str, request: Any, session: bool = False
    ) -> AbstractContextManager[trace.Span | None]:
        """The client span of a call (None without tracing)."""
        if self.tracer is None:
            return nullcontext()
        executor_type = str(getattr(request, "executor_type", ""))
        attributes: dict[str, str | int | bool] = {
            "rpc.system": "grpc",
            "rpc.service": "stepline.v1.ExecutorService",
            "rpc.method": method,
            "stepline.executor_type": executor_type,
        }
        if getattr(request, "executor_id", ""):
            attributes["stepline.executor_id"] = request.executor_id
        if session:
            attributes["stepline.session"] = True  # which path the call took
        return self.tracer.start_as_current_span(
            f"{method} {executor_type}".strip(), kind=SpanKind.CLIENT, attributes=attributes
        )

    def _measure(self, method: str, request: Any, started: float, code: str) -> None:
        if self.metrics is None:
            return
        workflow = WORKFLOW_ID.get()
        executor_type = str(getattr(request, "executor_type", ""))
        seconds = time.perf_counter() - started
        self.metrics.call_seconds.labels(workflow, executor_type, method).observe(seconds)
        if code != "OK":
            self.metrics.call_errors.labels(workflow, executor_type, method, code).inc()


def _status(name: str) -> grpc.StatusCode:
    return getattr(grpc.StatusCode, name, grpc.StatusCode.UNKNOWN)


def _cut_off(context: grpc.aio.ServicerContext[Any, Any]) -> bool:
    """Whether the hub cut the stream off, its watcher too far behind (not
    refused for the caller's streams open, RESOURCE_EXHAUSTED too)."""
    if context.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
        return False
    info = error_info_in(context.trailing_metadata())
    return info is not None and info.reason == Reason.WATCHER_TOO_SLOW


class StreamCount(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Counts the open WatchRun / WatchRuns streams."""

    def __init__(self, metrics: RunnerMetrics) -> None:
        self.metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_stream is None:
            return handler
        gauge = self.metrics.active_subscribers.labels(handler_call_details.method.rsplit("/")[-1])
        dropped = self.metrics.subscribers_dropped
        inner: Callable[..., AsyncIterator[Any]] = handler.unary_stream  # type: ignore[assignment]

        async def counted(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            gauge.inc()
            try:
                async for item in inner(request, context):
                    yield item
            finally:
                gauge.dec()
                if _cut_off(context):
                    dropped.inc()

        return grpc.unary_stream_rpc_method_handler(
            counted,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
