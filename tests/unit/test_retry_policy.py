"""The pure parts of retries: backoff, which errors retry, the checks of a
policy, and the loop over one superstep's failed calls (with fakes)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from stepline import RetryPolicy
from stepline.v1 import payload_pb2, workflow_pb2
from stepline_runner.engine.calls import Outcome
from stepline_runner.engine.errors import InvalidWorkflow
from stepline_runner.engine.retries import retry_failed
from stepline_runner.engine.retry_policy import (
    NO_RETRIES,
    Retries,
    check_retry_policy,
    policy_of,
)


def error(kind: str = "TimeoutError", non_retryable: bool = False) -> payload_pb2.ErrorInfo:
    return payload_pb2.ErrorInfo(type=kind, message="no", non_retryable=non_retryable)


def test_backoff_grows_by_the_multiplier_up_to_the_cap() -> None:
    retries = Retries.of(
        RetryPolicy(
            max_attempts=10,
            initial_backoff=timedelta(seconds=0.5),
            max_backoff=timedelta(seconds=3),
            backoff_multiplier=3,
        ).to_proto()
    )
    assert [retries.backoff(n) for n in range(1, 6)] == [0.5, 1.5, 3, 3, 3]


def test_defaults_fill_in_what_the_policy_leaves_out() -> None:
    retries = Retries.of(workflow_pb2.RetryPolicy(max_attempts=4))
    assert (retries.initial_backoff, retries.max_backoff, retries.multiplier) == (1, 100, 2)
    # The default cap stays under a day whatever the initial pause.
    day = workflow_pb2.RetryPolicy(max_attempts=2)
    day.initial_backoff.FromTimedelta(timedelta(hours=20))
    assert Retries.of(day).max_backoff == 86400
    # A huge exponent is capped before it can overflow.
    assert Retries.of(workflow_pb2.RetryPolicy(backoff_multiplier=10)).backoff(100) == 100


def test_which_errors_retry() -> None:
    everything = Retries(max_attempts=3, never_retry=frozenset({"KeyError"}))
    assert everything.retries(error("TimeoutError"))
    assert not everything.retries(error("KeyError"))
    assert not everything.retries(error("TimeoutError", non_retryable=True))
    only = Retries(max_attempts=3, retry_on=frozenset({"TimeoutError"}))
    assert only.retries(error("TimeoutError")) and not only.retries(error("ValueError"))


def test_the_pause_after_each_attempt_until_the_last() -> None:
    retries = Retries(max_attempts=3, initial_backoff=1, max_backoff=10)
    assert [retries.pause(error(), n) for n in (1, 2, 3)] == [1, 2, None]
    assert NO_RETRIES.pause(error(), 1) is None


def test_a_node_policy_replaces_the_default() -> None:
    definition = workflow_pb2.WorkflowDefinition()
    definition.default_retry_policy.max_attempts = 5
    own = definition.executors.add(id="a")
    own.retry_policy.max_attempts = 2
    other = definition.executors.add(id="b")
    assert policy_of(definition, own).max_attempts == 2
    assert policy_of(definition, other).max_attempts == 5
    assert policy_of(workflow_pb2.WorkflowDefinition(), other) is NO_RETRIES


def test_nanos_below_zero_are_a_negative_backoff() -> None:
    policy = workflow_pb2.RetryPolicy()
    policy.initial_backoff.nanos = -5
    with pytest.raises(InvalidWorkflow, match=r"p\.initial_backoff is -5e-09s"):
        check_retry_policy(policy, "p")


def test_a_policy_inside_the_bounds_passes() -> None:
    check_retry_policy(
        RetryPolicy(100, timedelta(days=1), timedelta(days=1), 10, ["A.B"], ["C"]).to_proto(), "p"
    )


def outcome(executor_id: str, failed: str = "", lost: str = "") -> Outcome:
    return Outcome(executor_id, error=error(failed) if failed else None, lost=lost)


async def run_retries(
    outcomes: list[Outcome], answers: dict[str, list[Outcome]], attempts: int = 3
) -> tuple[list[Outcome], list[tuple[str, float]], list[float]]:
    """`retry_failed` with `answers` as each executor's next calls."""
    tries: dict[str, int] = {}
    scheduled: list[tuple[str, float]] = []
    slept: list[float] = []

    def decide(o: Outcome) -> float | None:
        assert o.error is not None
        return Retries(attempts, 0.1, 1.0).pause(o.error, tries.get(o.executor_id, 0) + 1)

    async def told(o: Outcome, pause: float) -> None:
        scheduled.append((o.executor_id, pause))

    async def again(executor_id: str) -> Outcome:
        tries[executor_id] = tries.get(executor_id, 0) + 1
        return answers[executor_id].pop(0)

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(0)

    return await retry_failed(outcomes, decide, told, again, sleep), scheduled, slept


async def test_only_the_failed_calls_are_made_again() -> None:
    results, scheduled, slept = await run_retries(
        [outcome("a"), outcome("b", "TimeoutError")],
        {"b": [outcome("b", "TimeoutError"), outcome("b")]},
    )
    assert [(o.executor_id, o.error) for o in results] == [("a", None), ("b", None)]
    assert scheduled == [("b", 0.1), ("b", 0.2)] and slept == [0.1, 0.2]


async def test_a_failure_that_is_not_retried_ends_it_at_once() -> None:
    # b's pause is never waited for: a lost executor ends the superstep first.
    results, scheduled, _ = await run_retries(
        [outcome("a", "TimeoutError"), outcome("b", lost="gone")], {}
    )
    assert scheduled == [] and results[1].lost == "gone"


async def test_the_last_attempts_error_stands() -> None:
    results, scheduled, _ = await run_retries(
        [outcome("b", "TimeoutError")],
        {"b": [outcome("b", "TimeoutError"), outcome("b", "ValueError")]},
    )
    assert results[0].error is not None and results[0].error.type == "ValueError"
    assert len(scheduled) == 2
