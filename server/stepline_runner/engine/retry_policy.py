"""Retry policies of failed handler calls: which failures retry and after
what pause (`Retries`), and the checks of a definition's policies. Pure;
`retries.py` does the retrying."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf.duration_pb2 import Duration

from stepline.v1 import payload_pb2, workflow_pb2

from .errors import InvalidWorkflow
from .validation import short, valid_id

MAX_ATTEMPTS = 100
MAX_BACKOFF = 86400.0  # one day
DEFAULT_INITIAL_BACKOFF = 1.0
DEFAULT_MULTIPLIER = 2.0
MAX_MULTIPLIER = 10.0
MAX_ERROR_TYPES = 100
# ErrorInfo.type values are type names: an id, with room for a qualified name.
ERROR_TYPE_LENGTH = 256


@dataclass(frozen=True)
class Retries:
    """A checked `RetryPolicy` with its defaults filled in (seconds)."""

    max_attempts: int = 1
    initial_backoff: float = DEFAULT_INITIAL_BACKOFF
    max_backoff: float = DEFAULT_INITIAL_BACKOFF * 100
    multiplier: float = DEFAULT_MULTIPLIER
    retry_on: frozenset[str] = frozenset()
    never_retry: frozenset[str] = frozenset()

    @classmethod
    def of(cls, policy: workflow_pb2.RetryPolicy) -> Retries:
        """The policy as the runner applies it (`check_retry_policy` passed)."""
        initial = (
            _seconds(policy.initial_backoff)
            if policy.HasField("initial_backoff")
            else DEFAULT_INITIAL_BACKOFF
        )
        maximum = (
            _seconds(policy.max_backoff)
            if policy.HasField("max_backoff")
            else min(initial * 100, MAX_BACKOFF)
        )
        return cls(
            max_attempts=max(policy.max_attempts, 1),
            initial_backoff=initial,
            max_backoff=maximum,
            multiplier=policy.backoff_multiplier or DEFAULT_MULTIPLIER,
            retry_on=frozenset(policy.retry_on),
            never_retry=frozenset(policy.never_retry),
        )

    def backoff(self, retry: int) -> float:
        """The pause before the `retry`-th retry (1 for the first)."""
        # Capped exponent: multiplier**k overflows a float long after any cap.
        exponent = min(retry - 1, MAX_ATTEMPTS)
        return min(self.initial_backoff * self.multiplier**exponent, self.max_backoff)

    def retries(self, error: payload_pb2.ErrorInfo) -> bool:
        """Whether the policy retries an error of this kind at all."""
        if error.non_retryable or error.type in self.never_retry:
            return False
        return not self.retry_on or error.type in self.retry_on

    def pause(self, error: payload_pb2.ErrorInfo, attempt: int) -> float | None:
        """The pause before attempt `attempt + 1` after attempt `attempt`
        failed with `error`, or None when the run fails with it."""
        if attempt >= self.max_attempts or not self.retries(error):
            return None
        return self.backoff(attempt)


NO_RETRIES = Retries()


def policy_of(
    definition: workflow_pb2.WorkflowDefinition, node: workflow_pb2.ExecutorNode
) -> Retries:
    """The retry policy of one executor: its own, else the workflow's default."""
    if node.HasField("retry_policy"):
        return Retries.of(node.retry_policy)
    if definition.HasField("default_retry_policy"):
        return Retries.of(definition.default_retry_policy)
    return NO_RETRIES


def _seconds(duration: Duration) -> float:
    return duration.seconds + duration.nanos / 1e9


def check_retry_policy(policy: workflow_pb2.RetryPolicy, where: str) -> None:
    """Refuse a policy the runner cannot apply, naming the field and the bound."""
    if not 0 <= policy.max_attempts <= MAX_ATTEMPTS:
        raise InvalidWorkflow(
            f"{where}.max_attempts is {policy.max_attempts}: it must be between 0 and "
            f"{MAX_ATTEMPTS} (0 or 1: no retry)"
        )
    for name in ("initial_backoff", "max_backoff"):
        if not policy.HasField(name):
            continue
        duration: Duration = getattr(policy, name)
        seconds = _seconds(duration)
        if duration.seconds < 0 or duration.nanos < 0 or not seconds <= MAX_BACKOFF:
            raise InvalidWorkflow(
                f"{where}.{name} is {seconds:g}s: it must be between 0 and {MAX_BACKOFF:g} "
                "seconds (one day)"
            )
    initial = Retries.of(policy).initial_backoff
    if policy.HasField("max_backoff") and _seconds(policy.max_backoff) < initial:
        raise InvalidWorkflow(
            f"{where}.max_backoff ({_seconds(policy.max_backoff):g}s) is shorter than "
            f"initial_backoff ({initial:g}s)"
        )
    multiplier = policy.backoff_multiplier
    if multiplier != 0 and not (math.isfinite(multiplier) and 1 <= multiplier <= MAX_MULTIPLIER):
        raise InvalidWorkflow(
            f"{where}.backoff_multiplier is {multiplier:g}: it must be between 1 and "
            f"{MAX_MULTIPLIER:g} (0 means {DEFAULT_MULTIPLIER:g})"
        )
    for name in ("retry_on", "never_retry"):
        types: Sequence[str] = getattr(policy, name)
        if len(types) > MAX_ERROR_TYPES:
            raise InvalidWorkflow(
                f"{where}.{name} lists {len(types)} error types, over the cap of {MAX_ERROR_TYPES}"
            )
        for i, error_type in enumerate(types):
            if not valid_id(error_type, ERROR_TYPE_LENGTH):
                raise InvalidWorkflow(
                    f"{where}.{name}[{i}] {short(error_type)} is not an error type: 1 to "
                    f"{ERROR_TYPE_LENGTH} printable ASCII characters without spaces"
                )


def check_retry_policies(definition: workflow_pb2.WorkflowDefinition) -> None:
    """Every retry policy of a definition (`check_retry_policy`)."""
    if definition.HasField("default_retry_policy"):
        check_retry_policy(definition.default_retry_policy, "default_retry_policy")
    for node in definition.executors:
        if node.HasField("retry_policy"):
            check_retry_policy(node.retry_policy, f"executor {node.id!r}: retry_policy")
