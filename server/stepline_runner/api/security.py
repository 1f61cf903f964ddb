"""Exposing the runner beyond the machine: TLS, and a bearer token checked on
every RunnerService call (health checks and reflection stay open)."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
OPEN_PREFIXES = ("/grpc.health.", "/grpc.reflection.")


@dataclass(frozen=True)
class Security:
    """TLS key pair (PEM) and the token callers must present; all optional."""

    tls_cert: bytes | None = None
    tls_key: bytes | None = None
    token: str | None = None

    def credentials(self) -> grpc.ServerCredentials | None:
        if self.tls_cert is None or self.tls_key is None:
            return None
        return grpc.ssl_server_credentials([(self.tls_key, self.tls_cert)])

    def interceptors(self) -> list[grpc.aio.ServerInterceptor[Any, Any]]:
        return [TokenAuth(self.token)] if self.token else []


class TokenAuth(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Refuses calls without `authorization: Bearer <token>` metadata."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}"

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(details)
        if handler is None or details.method.startswith(OPEN_PREFIXES):
            return handler
        metadata = dict(details.invocation_metadata or ())
        given = str(metadata.get("authorization", ""))
        if hmac.compare_digest(given.encode(), self._expected.encode()):
            return handler
        return _denied(handler)


_DENIED = "this runner needs a token: send 'authorization: Bearer <token>' metadata"


def _denied(handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler of the same shape that answers UNAUTHENTICATED."""

    async def unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, _DENIED)

    async def stream(
        request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, _DENIED)
        yield  # pragma: no cover - abort raises; this makes it a stream handler

    serializers = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(stream, **serializers)
    return grpc.unary_unary_rpc_method_handler(unary, **serializers)
