"""Errors a caller of the runner can get; the gRPC layer maps each to a status.

SteplineError            reason: which cause (stepline.reasons.Reason)
├── InvalidArgument      the request is wrong (a page token the store did not issue)
│   └── InvalidWorkflow  a workflow definition is malformed
├── NotFound             a named object does not exist
├── AlreadyExists        an id is taken by something different
├── FailedPrecondition   the run or the services are not in a state to do it
│   └── StaleEpoch       another runner took the run over: this one must let go
├── ResourceExhausted    a limit was reached
│   └── StoreFull        the store has no room: nothing was changed
├── Unavailable          the runner is shutting down
│   ├── StoreUnavailable the store cannot be used right now: nothing was changed
│   └── CommitOutcomeUnknown the store's connection was lost during a commit
└── DataLoss             stored data is damaged or missing

They live beside engine/ and store/, not in either: the engine raises them,
and so does the store, which must not import the engine. So the store is
sealed: nothing above it sees SQLite's exceptions or its page-token format,
and the gRPC layer maps one hierarchy in one table. (engine/errors.py
re-exports them for the engine's modules.)

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
    "CommitOutcomeUnknown",
    "DataLoss",
    "FailedPrecondition",
    "InvalidArgument",
    "InvalidWorkflow",
    "NotFound",
    "PermissionDenied",
    "Reason",
    "ResourceExhausted",
    "StaleEpoch",
    "SteplineError",
    "StoreFull",
    "StoreUnavailable",
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


class PermissionDenied(SteplineError):
    """The runner's policy forbids it (an executor endpoint outside its allow-list)."""


class ResourceExhausted(SteplineError):
    """A limit was reached (for example a watcher fell too far behind)."""


class Unavailable(SteplineError):
    """The runner is shutting down; try again."""


class InvalidWorkflow(InvalidArgument):
    """A workflow definition is malformed (raised at the dozen checks of `Graph.compile`)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason=Reason.INVALID_WORKFLOW)


class StoreFull(ResourceExhausted):
    """The store has no room for a write (a full disk); nothing was changed."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason=Reason.STORE_FULL)


class StoreUnavailable(Unavailable):
    """The store cannot be used right now (locked by another program, a failing
    disk); nothing was changed. Like `StoreFull`, it passes."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason=Reason.STORE_UNAVAILABLE)


class CommitOutcomeUnknown(Unavailable):
    """The connection to the store was lost while a commit was under way, so
    it may have landed or not. Whoever acts on it reads what it would have
    changed first (GetRun): the engine re-reads the run's committed position
    before it goes on, so a commit that landed is neither lost nor repeated."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason=Reason.COMMIT_OUTCOME_UNKNOWN)


class StaleEpoch(FailedPrecondition):
    """The run's epoch moved past the one a write or an executor call carried:
    another runner (or another call of this one) took the run over since.
    Nothing was changed; whoever held the old epoch stops driving the run."""

    def __init__(self, run_id: str, epoch: int, detail: str = "") -> None:
        super().__init__(
            f"run {run_id[:128]!r} was taken over since epoch {epoch}"
            + (f" ({detail})" if detail else ""),
            reason=Reason.STALE_EPOCH,
            context={"run_id": run_id[:128], "epoch": str(epoch)},
        )
        self.run_id = run_id
        self.epoch = epoch


class DataLoss(SteplineError):
    """Stored data is damaged or missing: the database file was altered."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason=Reason.CORRUPT_STATE)
