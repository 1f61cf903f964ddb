"""Server interceptors that decide per call, before it runs, which handler
serves it: the executor services' token check (`service_security`) and the
runner's authorisation (its `api.auth`) are both one.

`HandlerInterceptor.wrap` gets the handler gRPC found and returns the one to
serve the call with; `same_shape` builds a replacement of the same shape
(unary or streaming, each way), so one refusal works for every method.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc

if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]
    Context = grpc.aio.ServicerContext[Any, Any]

Unary = Callable[[Any, "Context"], Awaitable[Any]]
Stream = Callable[[Any, "Context"], AsyncIterator[Any]]


class HandlerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Passes calls gRPC has no handler for, and methods under
    `open_prefixes`, as they are; every other call is served by the handler
    `wrap` returns."""

    open_prefixes: tuple[str, ...] = ()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(details)
        if handler is None or details.method.startswith(self.open_prefixes):
            return handler
        return self.wrap(handler, details)

    def wrap(self, handler: Handler, details: grpc.HandlerCallDetails) -> Handler:
        """The handler to serve this call with (`handler` itself, or another
        of its shape)."""
        raise NotImplementedError


def same_shape(
    handler: Handler,
    unary: Unary,
    stream: Stream,
    request_deserializer: Callable[[bytes], Any] | None = None,
) -> Handler:
    """A handler of `handler`'s shape and response serializer running `unary`
    (for a unary response) or `stream` (for a streamed one); each gets the
    request, or the request iterator when requests are streamed."""
    shape: dict[str, Any] = {
        "request_deserializer": request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(stream, **shape)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(unary, **shape)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(stream, **shape)
    return grpc.unary_unary_rpc_method_handler(unary, **shape)
