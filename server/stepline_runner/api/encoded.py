"""Watch responses sent as bytes, made once for all watchers.

The engine hands each watcher its batches with the bytes of the response
that holds them (`engine.replies.Batch.wire`, the same for every watcher of
a run at the same position), so the two streaming methods are registered
with a serializer that passes such bytes through instead of serialising a
response message per watcher.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from stepline.v1 import runner_pb2, runner_pb2_grpc

SERVICE = "stepline.v1.RunnerService"
_STREAMS: dict[str, Callable[[bytes], Any]] = {
    "WatchRun": runner_pb2.WatchRunRequest.FromString,
    "WatchRuns": runner_pb2.WatchRunsRequest.FromString,
}


def _serialize(response: Any) -> bytes:
    if isinstance(response, bytes):
        return response
    return bytes(response.SerializeToString())


class _Captured:
    """Stands for the server while the generated code registers the servicer."""

    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]]

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        pass

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        self.handlers = handlers


def add_runner_service(servicer: runner_pb2_grpc.RunnerServiceServicer, server: Any) -> None:
    """Register the RunnerService as the generated code does, but with the
    watch streams' responses passed through when they are bytes."""
    captured = _Captured()
    runner_pb2_grpc.add_RunnerServiceServicer_to_server(servicer, captured)  # type: ignore[arg-type]
    handlers = dict(captured.handlers)
    for name, parse in _STREAMS.items():
        handlers[name] = grpc.unary_stream_rpc_method_handler(
            getattr(servicer, name),
            request_deserializer=parse,
            response_serializer=_serialize,
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_registered_method_handlers(SERVICE, handlers)
