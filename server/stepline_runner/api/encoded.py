"""Watch responses sent as bytes, each event encoded once for all watchers.

`WatchRunResponse` and `WatchRunsResponse` are both `repeated Event events =
1`: on the wire, each event's bytes framed by the field's tag and their
length, one after the other. The hub keeps a recent event's bytes
(`EventHub.encoded`), so a hundred watchers of a run cost one serialisation
of each event and a join per response, not a hundred copies into response
messages and a hundred serialisations. The two streaming methods are
registered with a serializer that passes such bytes through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import grpc

from stepline.v1 import events_pb2, runner_pb2, runner_pb2_grpc

SERVICE = "stepline.v1.RunnerService"
# Field 1, wire type 2 (length-delimited): the tag byte of `events`.
_EVENTS_TAG = b"\x0a"
_STREAMS: dict[str, Callable[[bytes], Any]] = {
    "WatchRun": runner_pb2.WatchRunRequest.FromString,
    "WatchRuns": runner_pb2.WatchRunsRequest.FromString,
}


def varint(n: int) -> bytes:
    """`n` (0 or more) as a protobuf base-128 varint."""
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def events_response(
    events: Iterable[events_pb2.Event], encoded: Callable[[events_pb2.Event], bytes]
) -> bytes:
    """The bytes of a Watch(Run|Runs)Response holding `events`."""
    parts: list[bytes] = []
    for event in events:
        data = encoded(event)
        parts += (_EVENTS_TAG, varint(len(data)), data)
    return b"".join(parts)


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
