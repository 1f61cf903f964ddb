"""W3C trace context in gRPC metadata, both ways.

Clients: `client_interceptors()` gives a channel a span per unary call and
sends its context as ``traceparent``; streams only carry the caller's context.
Servers: `ServerTracing` continues the caller's trace in a server span around
each unary call, so what the handler does (and any span user code opens)
joins it; `server_span` makes that span for a call on a stream, whose
request carries the caller's context. Both are only installed when tracing
is on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import grpc
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

_TRACER = "stepline"


def rpc_attributes(method: str) -> tuple[str, dict[str, str]]:
    """Span name and attributes of a call to "/package.Service/Method"."""
    service, _, name = method.lstrip("/").rpartition("/")
    short = service.rsplit(".", 1)[-1]
    return f"{short}/{name}", {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}


def inject_metadata(details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
    """`details` with the current trace context added to its metadata."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if not carrier:
        return details
    metadata = grpc.aio.Metadata(*(tuple(details.metadata or ())))
    for key, value in carrier.items():
        metadata.add(key, value)
    return grpc.aio.ClientCallDetails(
        details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
    )


def method_name(details: grpc.aio.ClientCallDetails) -> str:
    """The called method as "/package.Service/Method"."""
    method = details.method
    return method.decode() if isinstance(method, bytes) else str(method)


class _ClientTracing(
    grpc.aio.UnaryUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.aio.UnaryStreamClientInterceptor,  # type: ignore[type-arg]
):
    def __init__(self) -> None:
        self._tracer = trace.get_tracer(_TRACER)

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[Any]],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        name, attributes = rpc_attributes(method_name(client_call_details))
        with self._tracer.start_as_current_span(
            name, kind=SpanKind.CLIENT, attributes=attributes
        ) as span:
            call = await continuation(inject_metadata(client_call_details), request)
            code = await call_status(call)
            if code != grpc.StatusCode.OK:
                record_status(span, code)
            return call

    async def intercept_unary_stream(  # type: ignore[override]
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[Any]],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        return await continuation(inject_metadata(client_call_details), request)


async def call_status(call: Any) -> grpc.StatusCode:
    """A unary call's status code, once it is done; an interceptor returns the
    call itself, and its caller sees any error when it awaits it."""
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def record_status(span: trace.Span, code: grpc.StatusCode) -> None:
    """Mark `span` failed with the call's status code."""
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    span.set_status(Status(StatusCode.ERROR, code.name))


def client_interceptors() -> Sequence[Any]:
    """Interceptors for a channel: none while no tracer provider is installed."""
    if not tracing_installed():
        return ()
    return (_ClientTracing(),)


def tracing_installed() -> bool:
    """Whether a real (SDK) tracer provider is installed, not the API's no-op."""
    provider = trace.get_tracer_provider()
    return not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)


class ServerTracing(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """A server span around each unary call, child of the caller's ``traceparent``."""

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        metadata = handler_call_details.invocation_metadata or ()
        carrier = {k: v for k, v in metadata if k in _KEYS and isinstance(v, str)}
        method = handler_call_details.method
        inner: Callable[..., Awaitable[Any]] = handler.unary_unary

        async def traced(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            with server_span(method, carrier):
                return await inner(request, context)

        return grpc.unary_unary_rpc_method_handler(
            traced,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def server_span(
    method: str, carrier: Mapping[str, str], **attributes: str | bool
) -> AbstractContextManager[trace.Span]:
    """The server span of one call to `method` ("/package.Service/Method"),
    current while the block runs: a child of the caller's trace context in
    `carrier` (W3C keys, from the call's metadata or, on a Session stream,
    from the request), with `attributes` added to gRPC's."""
    name, rpc = rpc_attributes(method)
    parent = propagate.extract({k: v for k, v in carrier.items() if k in _KEYS})
    return trace.get_tracer(_TRACER).start_as_current_span(
        name, context=parent, kind=SpanKind.SERVER, attributes={**rpc, **attributes}
    )


_KEYS = frozenset({"traceparent", "tracestate", "baggage"})
