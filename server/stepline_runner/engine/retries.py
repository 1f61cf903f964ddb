"""Retrying the failed Execute calls of one superstep under their executors'
retry policies (`retry_policy.py`): the loop, the executor's state put back
before each retry, and the RETRY_SCHEDULED event.

`retry_failed` takes what is not pure (the call again, the event, the
sleep) as arguments, so it is tested with fakes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from google.protobuf.timestamp_pb2 import Timestamp

from stepline.v1 import events_pb2

from ..store import Store
from . import events as ev
from .calls import Outcome, RunCalls
from .graph import Graph
from .observe import ROLLBACK_EXECUTOR_RESTARTED, ROLLBACK_EXECUTOR_UNREACHABLE
from .ports import ExecutorCallError, ExecutorPort
from .recovery import ExecutorLost, restore_executors
from .retry_policy import Retries, policy_of
from .state import RunState
from .validation import short

__all__ = [
    "Retries",
    "kept_schedule",
    "next_pause",
    "policy_of",
    "restore_before_retry",
    "retry_event",
    "retry_failed",
    "retrying",
    "unsaved_retrying",
]

Again = Callable[[str], Awaitable[Outcome]]
Decide = Callable[[Outcome], float | None]
Scheduled = Callable[[Outcome, float], Awaitable[None]]


async def retry_failed(
    outcomes: Sequence[Outcome],
    decide: Decide,
    scheduled: Scheduled,
    again: Again,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> list[Outcome]:
    """The superstep's outcomes once each failed call has been retried while
    `decide` gives a pause (None: not again): `scheduled` is told of each
    retry before its pause, `again` makes the call once more. A lost
    executor or a failure not retried ends it at once, the other retries
    cancelled; the outcomes then hold that one."""
    results = list(outcomes)
    if any(o.lost or (o.error is not None and decide(o) is None) for o in outcomes):
        return results

    async def until_done(outcome: Outcome) -> Outcome:
        while outcome.error is not None and not outcome.lost:
            pause = decide(outcome)
            if pause is None:
                break
            await scheduled(outcome, pause)
            await sleep(pause)  # the policy's backoff before the next attempt
            outcome = await again(outcome.executor_id)
        return outcome

    tasks = {asyncio.ensure_future(until_done(o)): i for i, o in enumerate(outcomes) if o.error}
    waiting = set(tasks)
    try:
        while waiting:
            done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                outcome = results[tasks[task]] = task.result()
                if outcome.lost or outcome.error is not None:
                    return results
        return results
    finally:
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)


# Events read per call while looking for the retries a restart interrupted.
PAGE = 500


async def kept_schedule(store: Store, state: RunState) -> tuple[dict[tuple[int, str], int], float]:
    """After a restart that re-runs the next superstep (every call attempt 2):
    the retries to count for each executor the log shows a retry scheduled
    for, so that its call is the attempt scheduled, and the pause until the
    last one is due."""
    step = state.superstep + 1
    scheduled: dict[str, events_pb2.Event] = {}
    run = await store.get_run(state.run_id)
    after = max(0, run.last_sequence - PAGE) if run is not None else 0
    while run is not None and after < run.last_sequence:
        events = await store.read_events(state.run_id, after, PAGE)
        if not events:
            break
        for event in events:
            if event.kind == events_pb2.EVENT_KIND_SUPERSTEP_COMPLETED and event.superstep < step:
                scheduled.clear()  # what came before is an earlier superstep's
            elif event.kind == events_pb2.EVENT_KIND_RETRY_SCHEDULED and event.superstep == step:
                scheduled[event.executor_id] = event  # the last one counts
        after = events[-1].sequence
    retried = {(step, x): max(e.attempt - 2, 0) for x, e in scheduled.items()}
    due = max((e.due_time.ToNanoseconds() / 1e9 for e in scheduled.values()), default=0.0)
    return retried, max(due - time.time(), 0.0)


def retrying(graph: Graph) -> frozenset[str]:
    """The executors whose retry policy calls them more than once."""
    return frozenset(
        x for x, node in graph.nodes.items() if policy_of(graph.definition, node).max_attempts > 1
    )


def unsaved_retrying(state: RunState, dirty: set[str], retried: frozenset[str]) -> bool:
    """Whether the next superstep invokes an executor of `retried` whose state
    changed since the last checkpoint (`dirty`). Under a sparse checkpoint
    policy the superstep just run is then checkpointed anyway: a retry puts
    back the failed executor alone, from the last checkpoint, which must hold
    its state as the failed call found it."""
    unsaved = dirty & retried
    if not unsaved:
        return False
    return any(m.target_id in unsaved for m in state.pending) or any(
        a.request.executor_id in unsaved for a in state.pending_responses
    )


def next_pause(graph: Graph, outcome: Outcome, attempt: int) -> float | None:
    """The pause before `outcome`'s executor is called again after its attempt
    `attempt` failed, by its retry policy; None when its error fails the run."""
    assert outcome.error is not None
    node = graph.nodes[outcome.executor_id]
    return policy_of(graph.definition, node).pause(outcome.error, attempt)


def retry_event(
    graph: Graph, step: int, outcome: Outcome, attempt: int, pause: float
) -> events_pb2.Event:
    """RETRY_SCHEDULED for attempt `attempt` of `outcome`'s executor, `pause` from now."""
    assert outcome.error is not None
    max_attempts = policy_of(graph.definition, graph.nodes[outcome.executor_id]).max_attempts
    event = ev.event(
        events_pb2.EVENT_KIND_RETRY_SCHEDULED,
        step,
        executor_id=outcome.executor_id,
        error=outcome.error,
        attempt=attempt,
        message=f"{outcome.error.type or 'error'}: {short(outcome.error.message, 200)}; "
        f"attempt {attempt} of {max_attempts} in {pause:g}s",
    )
    due = Timestamp()
    due.FromDatetime(event.time.ToDatetime() + timedelta(seconds=pause))
    event.due_time.CopyFrom(due)
    return event


async def restore_before_retry(
    store: Store, executors: ExecutorPort, calls: RunCalls, state: RunState, executor_id: str
) -> None:
    """Put one executor back to its state in the run's last checkpoint.
    Raises `ExecutorLost` when that fails or shows its service restarted."""
    checkpoint = await store.get_checkpoint(state.checkpoint_id, True)
    assert checkpoint is not None, "a run's latest checkpoint is never deleted"
    saved = checkpoint.content.executor_states
    try:
        restored = await restore_executors(
            executors, state.run_id, state.graph, saved, calls.epoch, only=[executor_id]
        )
    except ExecutorCallError as exc:
        message = f"RestoreCheckpoint on {executor_id!r} before a retry: {exc}"
        raise ExecutorLost(message, ROLLBACK_EXECUTOR_UNREACHABLE) from exc
    for endpoint, incarnation in restored.items():
        restarted = calls.restarted(endpoint, incarnation)
        if restarted:
            raise ExecutorLost(restarted, ROLLBACK_EXECUTOR_RESTARTED)
