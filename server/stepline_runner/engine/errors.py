"""The errors the engine raises: those of `stepline_runner.errors`, which the
store raises too (see there why they live beneath both)."""

from ..errors import (
    AlreadyExists,
    DataLoss,
    FailedPrecondition,
    InvalidArgument,
    InvalidWorkflow,
    NotFound,
    PermissionDenied,
    Reason,
    ResourceExhausted,
    SteplineError,
    StoreFull,
    StoreUnavailable,
    Unavailable,
)

__all__ = [
    "AlreadyExists",
    "DataLoss",
    "FailedPrecondition",
    "InvalidArgument",
    "InvalidWorkflow",
    "NotFound",
    "PermissionDenied",
    "Reason",
    "ResourceExhausted",
    "SteplineError",
    "StoreFull",
    "StoreUnavailable",
    "Unavailable",
]
