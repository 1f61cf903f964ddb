"""gRPC interceptors of the runner: executor calls timed and traced (with
``traceparent`` sent on), event streams counted."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from stepline.telemetry import call_status, inject_metadata, method_name, record_status

from .logs import WORKFLOW_ID
from .metrics import RunnerMetrics


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
        executor_type = str(getattr(request, "executor_type", ""))
        started = time.perf_counter()
        if self.tracer is None:
            call = await continuation(client_call_details, request)
            code = await call_status(call)
        else:
            attributes: dict[str, str | int] = {
                "rpc.system": "grpc",
                "rpc.service": "stepline.v1.ExecutorService",
                "rpc.method": method,
                "stepline.executor_type": executor_type,
            }
            if getattr(request, "executor_id", ""):
                attributes["stepline.executor_id"] = request.executor_id
            with self.tracer.start_as_current_span(
                f"{method} {executor_type}".strip(), kind=SpanKind.CLIENT, attributes=attributes
            ) as span:
                call = await continuation(inject_metadata(client_call_details), request)
                code = await call_status(call)
                if code != grpc.StatusCode.OK:
                    record_status(span, code)
        if self.metrics is not None:
            workflow = WORKFLOW_ID.get()
            seconds = time.perf_counter() - started
            self.metrics.call_seconds.labels(workflow, executor_type, method).observe(seconds)
            if code != grpc.StatusCode.OK:
                self.metrics.call_errors.labels(workflow, executor_type, method, code.name).inc()
        return call


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
                # The hub cuts off a watcher that fell too far behind so.
                if context.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    dropped.inc()

        return grpc.unary_stream_rpc_method_handler(
            counted,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
