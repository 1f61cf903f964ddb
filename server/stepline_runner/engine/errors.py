"""Errors the engine raises to its callers; the gRPC layer maps each to a status."""


class SteplineError(Exception):
    """Base of the errors a caller of the runner can get."""


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
