"""Why a runner call failed, as a machine-readable constant.

The runner puts one of these in every error status it returns, as the
`reason` of a `google.rpc.ErrorInfo` in the status details (domain
`stepline.dev`); the client exposes it as `SteplineError.reason`. The gRPC
status says what kind of failure it is, the reason says which one, so a
caller can tell "this run is still active" from "this run is not waiting for
input" (both FAILED_PRECONDITION) without parsing the message.

This module is the one vocabulary of both sides of the wire: the runner's
engine raises with these, the SDK compares with them. It imports nothing, so
the engine may use it without depending on gRPC. The README's table of
reasons lists the same constants (a test keeps them in step).
"""

from __future__ import annotations

from enum import StrEnum

DOMAIN = "stepline.dev"


class Reason(StrEnum):
    """The reasons a runner call can fail with; the value is what goes on the wire."""

    # INVALID_ARGUMENT: fixing the request fixes it.
    INVALID_WORKFLOW = "INVALID_WORKFLOW"
    EDGE_TYPE_MISMATCH = "EDGE_TYPE_MISMATCH"
    INPUT_TYPE_MISMATCH = "INPUT_TYPE_MISMATCH"
    RESPONSE_TYPE_MISMATCH = "RESPONSE_TYPE_MISMATCH"
    NO_RESPONSES = "NO_RESPONSES"
    INVALID_ID = "INVALID_ID"
    INVALID_PAYLOAD = "INVALID_PAYLOAD"
    INVALID_PAGE_SIZE = "INVALID_PAGE_SIZE"
    INVALID_PAGE_TOKEN = "INVALID_PAGE_TOKEN"
    INVALID_AFTER_SEQUENCE = "INVALID_AFTER_SEQUENCE"
    INVALID_RUN_FILTER = "INVALID_RUN_FILTER"
    INVALID_VERSION = "INVALID_VERSION"
    MISSING_FIELD = "MISSING_FIELD"
    INVALID_SCHEDULE = "INVALID_SCHEDULE"
    INVALID_NAMESPACE = "INVALID_NAMESPACE"

    # FAILED_PRECONDITION: the request is fine, the run or the services are not
    # in a state to do it.
    NOT_WAITING_FOR_INPUT = "NOT_WAITING_FOR_INPUT"
    ALREADY_ANSWERED = "ALREADY_ANSWERED"
    RUN_ACTIVE = "RUN_ACTIVE"
    RUN_ENDED = "RUN_ENDED"
    RUN_COMPLETED = "RUN_COMPLETED"
    RUN_QUEUED = "RUN_QUEUED"
    GRAPH_CHANGED = "GRAPH_CHANGED"
    RUN_NOT_MOVABLE = "RUN_NOT_MOVABLE"
    LATEST_CHECKPOINT = "LATEST_CHECKPOINT"
    EXECUTOR_SERVICE_UNREACHABLE = "EXECUTOR_SERVICE_UNREACHABLE"
    EXECUTOR_TYPE_NOT_HOSTED = "EXECUTOR_TYPE_NOT_HOSTED"
    RESTORE_FAILED = "RESTORE_FAILED"
    # An Execute of the run outlived twice its execute_timeout: not restored under it.
    LATE_CALL_RUNNING = "LATE_CALL_RUNNING"
    # Another runner took the run over (a higher epoch): the caller is stale.
    # Executor services refuse a stale runner's calls with it too.
    STALE_EPOCH = "STALE_EPOCH"
    # A runner that follows another's database (--follow) changes nothing.
    READ_ONLY = "READ_ONLY"

    # PERMISSION_DENIED
    ENDPOINT_NOT_ALLOWED = "ENDPOINT_NOT_ALLOWED"
    ENDPOINT_NEEDS_TLS = "ENDPOINT_NEEDS_TLS"
    ROLE_REQUIRED = "ROLE_REQUIRED"

    # UNAUTHENTICATED
    CREDENTIALS_REQUIRED = "CREDENTIALS_REQUIRED"

    # NOT_FOUND
    WORKFLOW_NOT_FOUND = "WORKFLOW_NOT_FOUND"
    RUN_NOT_FOUND = "RUN_NOT_FOUND"
    CHECKPOINT_NOT_FOUND = "CHECKPOINT_NOT_FOUND"
    REQUEST_NOT_FOUND = "REQUEST_NOT_FOUND"
    SCHEDULE_NOT_FOUND = "SCHEDULE_NOT_FOUND"

    # ALREADY_EXISTS
    RUN_EXISTS = "RUN_EXISTS"
    SCHEDULE_EXISTS = "SCHEDULE_EXISTS"

    # RESOURCE_EXHAUSTED
    WATCHER_TOO_SLOW = "WATCHER_TOO_SLOW"
    STORE_FULL = "STORE_FULL"
    TOO_MANY_SCHEDULES = "TOO_MANY_SCHEDULES"
    TOO_MANY_WATCHERS = "TOO_MANY_WATCHERS"

    # UNAVAILABLE
    SHUTTING_DOWN = "SHUTTING_DOWN"
    STORE_UNAVAILABLE = "STORE_UNAVAILABLE"
    COMMIT_OUTCOME_UNKNOWN = "COMMIT_OUTCOME_UNKNOWN"

    # DATA_LOSS
    CORRUPT_STATE = "CORRUPT_STATE"
