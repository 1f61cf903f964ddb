"""Retries of failed handler calls: the policy a workflow gives its
executors, and the exception a handler raises for a failure no retry fixes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from stepline.v1 import workflow_pb2


@dataclass(frozen=True)
class RetryPolicy:
    """How the runner retries an executor's failed `Execute` (a handler that
    raised, a deadline passed): up to `max_attempts` calls in all, the n-th
    retry after `initial_backoff * backoff_multiplier**(n-1)`, at most
    `max_backoff` (default: 100 times `initial_backoff`). Before each retry
    the executor's state goes back to the last checkpoint's, so a half-done
    call leaves no trace; `WorkflowContext.attempt` counts the attempts.

    `retry_on` lists the error types (exception class names) that retry,
    empty meaning all; `never_retry` those that fail the run at once, as a
    `NonRetryableError` always does. The runner refuses (INVALID_ARGUMENT)
    more than 100 attempts, pauses over a day, multipliers outside 1-10."""

    max_attempts: int = 3
    initial_backoff: timedelta = timedelta(seconds=1)
    max_backoff: timedelta | None = None
    backoff_multiplier: float = 2.0
    retry_on: Sequence[str] = ()
    never_retry: Sequence[str] = ()

    def to_proto(self) -> workflow_pb2.RetryPolicy:
        """The policy as the workflow definition carries it."""
        policy = workflow_pb2.RetryPolicy(
            max_attempts=self.max_attempts,
            backoff_multiplier=self.backoff_multiplier,
            retry_on=self.retry_on,
            never_retry=self.never_retry,
        )
        policy.initial_backoff.FromTimedelta(self.initial_backoff)
        if self.max_backoff is not None:
            policy.max_backoff.FromTimedelta(self.max_backoff)
        return policy


class NonRetryableError(Exception):
    """Raised by a handler for a failure no retry can fix (bad input, say):
    the run fails at once, whatever the executor's retry policy."""
