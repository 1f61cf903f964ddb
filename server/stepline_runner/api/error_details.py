"""Rich gRPC statuses: the engine error's reason and context as a
`google.rpc.ErrorInfo` in the status details (grpc-status-details-bin), so a
client can branch on the cause without parsing the message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from stepline.reasons import DOMAIN

from ..engine.errors import SteplineError

# The message (grpc-message) and the details (a copy of the message, the
# reason and the context) travel in the trailers, which clients cap (8 KiB by
# default): more would reach the caller as RESOURCE_EXHAUSTED. So both stay
# small whatever a caller sent: the message is cut (the same cut in both
# places, as grpcio-status's from_call requires), and so are context values.
MAX_MESSAGE_CHARS = 2000
MAX_CONTEXT_VALUE = 128
MAX_CONTEXT_ENTRIES = 8


def reason_of(exc: Exception) -> tuple[str, Mapping[str, str]]:
    """The machine-readable reason of `exc` and the ids it names."""
    if isinstance(exc, SteplineError):
        return exc.reason, exc.context
    return "", {}


class RichStatus(NamedTuple):
    """What `ServicerContext.abort` takes."""

    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...]


def rich_status(
    code: grpc.StatusCode, message: str, reason: str, context: Mapping[str, str] | None = None
) -> RichStatus:
    """A status with `code` and `message` whose details name `reason` and the
    ids in `context` (no details without a reason); `message` bounded."""
    message = bounded_message(message)
    status = status_pb2.Status(code=code.value[0], message=message)
    if reason:
        info = error_details_pb2.ErrorInfo(
            reason=reason, domain=DOMAIN, metadata=bounded(context or {})
        )
        status.details.add().Pack(info)
    # grpcio-status packs the details into the trailers.
    return RichStatus(code, message, rpc_status.to_status(status).trailing_metadata)


async def abort(
    context: grpc.aio.ServicerContext[Any, Any],
    code: grpc.StatusCode,
    message: str,
    reason: str,
    ids: Mapping[str, str] | None = None,
) -> None:
    """End the call with `rich_status(code, message, reason, ids)` (raises)."""
    status = rich_status(code, message, reason, ids)
    await context.abort(status.code, status.details, status.trailing_metadata)


def bounded_message(message: str) -> str:
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return message[: MAX_MESSAGE_CHARS - 30] + f"... ({len(message)} characters)"


def bounded(context: Mapping[str, str]) -> dict[str, str]:
    """At most a few entries, each value cut to a short prefix."""
    out: dict[str, str] = {}
    for key, value in list(context.items())[:MAX_CONTEXT_ENTRIES]:
        out[key] = _prefix(value, MAX_CONTEXT_VALUE)
    return out


def _prefix(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
