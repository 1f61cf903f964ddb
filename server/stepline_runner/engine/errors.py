"""Errors the engine raises to its callers; the gRPC layer maps each to a status.

SteplineError            reason: which cause (stepline.reasons.Reason)
├── InvalidArgument      the request is wrong
│   └── InvalidWorkflow  a workflow definition is malformed
├── NotFound             a named object does not exist
├── AlreadyExists        an id is taken by something different
├── FailedPrecondition   the run or the services are not in a state to do it
├── ResourceExhausted    a limit was reached
└── Unavailable          the runner is shutting down

The class says what kind of failure it is (and so the gRPC status), the
`reason` says which one, and `context` carries the ids a caller needs to act
on it (run_id, checkpoint_id, ...); both reach the client in the status
details. Every raise names its reason: a new cause means a new `Reason`.
"""

from __future__ import annotations

from collections.abc import Mapping

from stepline.reasons import Reason

__all__ = [
    "AlreadyExists",
    "FailedPrecondition",
    "InvalidArgument",
    "InvalidWorkflow",
    "NotFound",
    "Reason",
    "ResourceExhausted",
    "SteplineError",
    "Unavailable",
]


class SteplineError(Exception):
    """Base of the errors a caller of the runner can get."""

    def __init__(
        self, message: str, *, reason: Reason, context: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.context: dict[str, str] = dict(context or {})


class InvalidArgument(SteplineError):
    """The request itself is wrong: fixing the request fixes it."""


class NotFound(SteplineError):
    """A named workflow, run, checkpoint or request does not exist."""


class AlreadyExists(SteplineError):
    """Something with that id exists and differs from what was asked."""


class FailedPrecondition(SteplineError):
    """The request is well formed but the system is not in a state to do it."""


class ResourceExhausted(SteplineError):
    """A limit was reached (for example a watcher fell too far behind)."""


class Unavailable(SteplineError):
    """The runner is shutting down; try again."""


class InvalidWorkflow(InvalidArgument):
    """A workflow definition is malformed (raised at the dozen checks of `Graph.compile`)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason=Reason.INVALID_WORKFLOW)
