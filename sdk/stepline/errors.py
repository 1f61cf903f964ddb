"""Errors the SDK's client raises: one class per gRPC status a caller can act on.

try:
    await client.get_run("nope")
except NotFoundError as exc:
    ...
"""

from __future__ import annotations

import grpc


class SteplineError(Exception):
    """Base of every error the client raises. `code` is the gRPC status."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class InvalidArgumentError(SteplineError):
    """The request is malformed; fix it before retrying."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFoundError(SteplineError):
    """A workflow, run, checkpoint or request does not exist."""

    code = grpc.StatusCode.NOT_FOUND


class AlreadyExistsError(SteplineError):
    """An object with that id exists and differs from the request."""

    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPreconditionError(SteplineError):
    """The request is valid but the system is not in a state to do it."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class ResourceExhaustedError(SteplineError):
    """A limit was hit: a message over the size cap, or a watcher too far behind."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class DataLossError(SteplineError):
    """Stored data failed its integrity check (a state blob no longer matches its hash)."""

    code = grpc.StatusCode.DATA_LOSS


class UnauthenticatedError(SteplineError):
    """The runner wants a token (or another one): see `RunnerClient(token=...)`."""

    code = grpc.StatusCode.UNAUTHENTICATED


class UnavailableError(SteplineError):
    """The runner cannot be reached or is shutting down; retrying may help."""

    code = grpc.StatusCode.UNAVAILABLE


class RunFailedError(SteplineError):
    """A run the client waited for ended in failure or was cancelled."""

    code = grpc.StatusCode.ABORTED


_BY_CODE: dict[grpc.StatusCode, type[SteplineError]] = {
    cls.code: cls
    for cls in (
        InvalidArgumentError,
        NotFoundError,
        AlreadyExistsError,
        FailedPreconditionError,
        ResourceExhaustedError,
        DataLossError,
        UnauthenticatedError,
        UnavailableError,
    )
}


def from_rpc_error(exc: grpc.aio.AioRpcError) -> SteplineError:
    """The SDK error for a failed call."""
    cls = _BY_CODE.get(exc.code(), SteplineError)
    return cls(exc.details() or exc.code().name, exc.code())
