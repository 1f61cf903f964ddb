"""Errors the SDK's client raises: one class per gRPC status a caller can act on.

SteplineError                 code, reason, metadata
├── InvalidArgumentError      INVALID_ARGUMENT: fix the request
├── NotFoundError             NOT_FOUND
├── AlreadyExistsError        ALREADY_EXISTS
├── FailedPreconditionError   FAILED_PRECONDITION: the run is not in a state for it
├── ResourceExhaustedError    RESOURCE_EXHAUSTED
├── DataLossError             DATA_LOSS
├── PermissionDeniedError     PERMISSION_DENIED: the runner's policy forbids it
├── UnauthenticatedError      UNAUTHENTICATED
├── UnavailableError          UNAVAILABLE: retrying may help
└── RunFailedError            a waited-for run failed; `error` says how

The class says what kind of failure it is; `reason` (a `Reason`, from the
status details the runner sends) says which one, and `metadata` names the ids
involved::

    try:
        await client.send_responses(run_id, answers)
    except FailedPreconditionError as exc:
        if exc.reason == Reason.NOT_WAITING_FOR_INPUT:
            ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import cast

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2

from stepline.reasons import DOMAIN, Reason
from stepline.v1 import events_pb2, payload_pb2, runner_pb2

__all__ = [
    "AlreadyExistsError",
    "DataLossError",
    "FailedPreconditionError",
    "InvalidArgumentError",
    "NotFoundError",
    "PermissionDeniedError",
    "Reason",
    "ResourceExhaustedError",
    "RunError",
    "RunFailedError",
    "SteplineError",
    "UnauthenticatedError",
    "UnavailableError",
    "from_rpc_error",
]

_DETAILS_KEY = "grpc-status-details-bin"


class SteplineError(Exception):
    """Base of every error the client raises.

    `code` is the gRPC status; `reason` the runner's machine-readable cause
    (one of `Reason`'s values, or "" when the status carried none: a status
    from gRPC itself, or from an older runner); `metadata` the ids the runner
    named with it (run_id, checkpoint_id, request_id, ...).
    """

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(
        self,
        message: str,
        code: grpc.StatusCode | None = None,
        *,
        reason: str = "",
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.reason = reason
        self.metadata: dict[str, str] = dict(metadata or {})


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


class PermissionDeniedError(SteplineError):
    """The runner's policy forbids the call, e.g. an executor endpoint outside
    its allow-list (`stepline-runner --allow-executors`)."""

    code = grpc.StatusCode.PERMISSION_DENIED


class UnauthenticatedError(SteplineError):
    """The runner wants a token (or another one): see `RunnerClient(token=...)`."""

    code = grpc.StatusCode.UNAUTHENTICATED


class UnavailableError(SteplineError):
    """The runner cannot be reached or is shutting down; retrying may help."""

    code = grpc.StatusCode.UNAVAILABLE


@dataclass(frozen=True)
class RunError:
    """Why a run failed, as the runner recorded it."""

    type: str
    """The error's type, e.g. "ValueError" or "ExecuteDeadlineExceeded"."""
    message: str
    executor_id: str
    """The executor that failed; "" when the runner itself failed the run."""
    traceback: str
    """The executor's traceback or stack text, when it sent one."""

    @classmethod
    def from_proto(cls, error: payload_pb2.ErrorInfo) -> RunError:
        """The error a run failed with, from the `ErrorInfo` in its run or event."""
        return cls(error.type, error.message, error.executor_id, error.traceback)


class RunFailedError(SteplineError):
    """A run the client waited for ended in failure or was cancelled.

    `run` is the run as it ended, `status` its final status, and `error` the
    structured error the runner recorded (type, message, executor, traceback).
    """

    code = grpc.StatusCode.ABORTED

    def __init__(self, run: runner_pb2.Run) -> None:
        self.run = run
        self.status = run.status
        self.error = RunError.from_proto(run.error)
        summary = f"{self.error.type}: {self.error.message}".strip(": ")
        where = f" in executor {self.error.executor_id!r}" if self.error.executor_id else ""
        status = events_pb2.RunStatus.Name(run.status)
        super().__init__(f"run {run.run_id} {status}{where}: {summary}".rstrip(": "))

    @property
    def run_id(self) -> str:
        """The id of the run that failed."""
        return self.run.run_id


_BY_CODE: dict[grpc.StatusCode, type[SteplineError]] = {
    cls.code: cls
    for cls in (
        InvalidArgumentError,
        NotFoundError,
        AlreadyExistsError,
        FailedPreconditionError,
        ResourceExhaustedError,
        DataLossError,
        PermissionDeniedError,
        UnauthenticatedError,
        UnavailableError,
    )
}


def from_rpc_error(
    exc: grpc.aio.AioRpcError, hint: Callable[[grpc.StatusCode, str], str] | None = None
) -> SteplineError:
    """The SDK error for a failed call, with the reason from its status details.

    For a status gRPC gave itself (no runner's reason: the runner could not
    be reached, say), `hint(code, details)` may say what to check first: the
    message is then the hint, with gRPC's details (at most 300 characters) after it.
    """
    cls = _BY_CODE.get(exc.code(), SteplineError)
    info = error_info(exc)
    message = exc.details() or exc.code().name
    if info is None and hint is not None and (first := hint(exc.code(), message)):
        message = f"{first} ({message[:300]})"
    return cls(
        message,
        exc.code(),
        reason=info.reason if info is not None else "",
        metadata=info.metadata if info is not None else None,
    )


def error_info(exc: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo | None:
    """The runner's `ErrorInfo` in a call's trailing metadata, if there is one.

    Read directly rather than with `grpc_status.rpc_status.from_call`, which
    refuses a status whose message a proxy shortened: the reason still holds.
    Details that do not parse, or come from another domain, count as none.
    """
    # grpc-stubs types trailers as objects; at run time they are (key, value) pairs.
    return error_info_in(cast("Iterable[tuple[str, str | bytes]]", exc.trailing_metadata() or ()))


def error_info_in(
    trailers: Iterable[tuple[str, str | bytes]],
) -> error_details_pb2.ErrorInfo | None:
    """`error_info` of a status's trailers (a servicer's own, once it aborted)."""
    for key, value in trailers:
        if key != _DETAILS_KEY or not isinstance(value, bytes):
            continue
        try:
            status = status_pb2.Status.FromString(value)
        except DecodeError:  # garbage from a peer is no reason
            return None
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info) and info.domain == DOMAIN:
                return info
    return None
