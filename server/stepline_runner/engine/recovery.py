"""Putting a run's executors back to a checkpoint, retrying while they are away."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from stepline.v1 import executor_pb2, payload_pb2

from .errors import FailedPrecondition, Reason
from .fencing import raise_if_superseded
from .graph import Graph
from .observe import ROLLBACK_EXECUTOR_UNREACHABLE
from .ports import ExecutorCallError, ExecutorPort

# What Supervisor.restore gives a runner with no room to drive the run: the
# executors are left for the runner that claims it to restore.
LEFT_TO_DRIVER: Mapping[str, str] = MappingProxyType({})


class ExecutorLost(Exception):
    """An executor of the run lost, or may have lost, what it held: it
    restarted, or it could not be reached. The run rolls back. `reason` is
    one of observe.ROLLBACK_*, fit to count by."""

    def __init__(self, message: str, reason: str = ROLLBACK_EXECUTOR_UNREACHABLE) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait for an executor service that is away: `attempts`
    tries, the pause doubling from `initial_backoff` up to `max_backoff`."""

    attempts: int = 8
    initial_backoff: float = 0.2
    max_backoff: float = 5.0

    def pauses(self) -> Iterator[float]:
        """The pauses between attempts (one fewer than the attempts)."""
        pause = self.initial_backoff
        for _ in range(self.attempts - 1):
            yield pause
            pause = min(pause * 2, self.max_backoff)


def restore_error(
    exc: ExecutorCallError, attempts: int, checkpoint_id: str
) -> payload_pb2.ErrorInfo:
    """The run's error when its executors could not be restored (`attempts` tries)."""
    resumable = f"the run can be resumed from checkpoint {checkpoint_id}"
    if exc.unreachable:
        return payload_pb2.ErrorInfo(
            type="ExecutorUnavailable",
            message=f"executor service at {exc.endpoint} did not come back after "
            f"{attempts} attempts ({exc.code}: {exc.message}); {resumable} once it is back",
        )
    return payload_pb2.ErrorInfo(
        type="RestoreFailed",
        message=f"executor service at {exc.endpoint} refused RestoreCheckpoint "
        f"({exc.code}: {exc.message}); {resumable} once that is fixed",
    )


async def restore_executors(
    executors: ExecutorPort,
    run_id: str,
    graph: Graph,
    saved: Mapping[str, payload_pb2.Payload],
    epoch: int,
    only: Iterable[str] | None = None,
) -> dict[str, str]:
    """RestoreCheckpoint on every executor of the run (or those in `only`),
    in parallel, with the caller's `epoch`; those without a saved state get a
    fresh object. Returns each endpoint's incarnation id; raises the first
    `ExecutorCallError`, or `StaleEpoch` if a service has seen a later epoch."""

    async def restore(executor_id: str) -> tuple[str, str]:
        node = graph.nodes[executor_id]
        request = executor_pb2.RestoreCheckpointRequest(
            run_id=run_id,
            executor_id=executor_id,
            executor_type=graph.node_type(executor_id),
            epoch=epoch,
        )
        if executor_id in saved:
            request.state.CopyFrom(saved[executor_id])
        try:
            response = await executors.restore(node.endpoint, request)
        except ExecutorCallError as exc:
            raise_if_superseded(exc, run_id, epoch)
            raise
        return node.endpoint, response.incarnation_id

    executor_ids = graph.nodes if only is None else only
    return dict(await asyncio.gather(*(restore(x) for x in executor_ids)))


async def restore_with_retries(
    executors: ExecutorPort,
    run_id: str,
    graph: Graph,
    saved: Mapping[str, payload_pb2.Payload],
    epoch: int,
    retry: RetryPolicy,
    on_retry: Callable[[], None] | None = None,
) -> dict[str, str]:
    """`restore_executors`, tried again while an executor is unreachable;
    `on_retry` is told before each pause."""
    pauses = retry.pauses()
    while True:
        try:
            return await restore_executors(executors, run_id, graph, saved, epoch)
        except ExecutorCallError as exc:
            pause = next(pauses, None)
            if not exc.unreachable or pause is None:
                raise
            if on_retry is not None:
                on_retry()
            await asyncio.sleep(pause)  # backoff before the next attempt


async def restore_run(
    executors: ExecutorPort,
    run_id: str,
    graph: Graph,
    saved: Mapping[str, payload_pb2.Payload],
    epoch: int,
    retry: RetryPolicy,
    on_retry: Callable[[], None] | None = None,
) -> dict[str, str]:
    """`restore_with_retries`, for a caller that puts a run back in hand: an
    executor that fails it (or stays away) is a FailedPrecondition."""
    try:
        return await restore_with_retries(executors, run_id, graph, saved, epoch, retry, on_retry)
    except ExecutorCallError as exc:
        raise FailedPrecondition(
            f"cannot restore the run's executors: the service at {exc.endpoint} {what_it_did(exc)}",
            reason=Reason.RESTORE_FAILED,
            context={"run_id": run_id, "endpoint": exc.endpoint},
        ) from exc


def what_it_did(exc: ExecutorCallError) -> str:
    """What the service did, for a person: not what answered, when it was not
    an executor service (see registry.py)."""
    if exc.code == "DEADLINE_EXCEEDED":
        # A restore waits for a service that is starting (wait_for_ready), so
        # this is a service that stayed away or one slow to restore the state.
        return "did not answer in time (not up, or slow to restore the state)"
    if exc.unreachable:
        return "is unreachable"
    return f"answered {exc.code}: {exc.message}"
