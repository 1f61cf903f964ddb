"""`Waker`: a waiting run whose first timer is due goes on. Its executors are
restored (they may have restarted while it waited), its status is running
again, and a driver routes the due timers into the next superstep.

What stops it for now (executor services away, the store out of reach) is
tried again later, the pause doubling; anything else fails the run.
"""

from __future__ import annotations

import logging
import time

from ..statuses import WAITING, settled
from ..store import RunUpdate, Store
from . import events as ev
from .errors import (
    FailedPrecondition,
    Reason,
    StaleEpoch,
    StoreFull,
    StoreUnavailable,
    Unavailable,
)
from .new_runs import check_signature
from .registry import WorkflowRegistry
from .runlog import RunLog
from .state import RunState
from .supervisor import Supervisor
from .timers import next_due

log = logging.getLogger(__name__)


class Waker:
    def __init__(
        self, store: Store, runs: Supervisor, workflows: WorkflowRegistry, log: RunLog
    ) -> None:
        self.store = store
        self.runs = runs
        self.workflows = workflows
        self.log = log
        # Run id -> the next pause before trying again to wake it.
        self._pauses: dict[str, float] = {}

    async def wake(self, run_id: str) -> None:
        """Go on with the run if a timer of its is due (the wheel's callback)."""
        try:
            await self._wake(run_id)
        except StaleEpoch:
            log.info("run %s: another runner took it over; its timers are its own", run_id)
        except Exception as exc:
            if not _passes(exc):
                log.exception("run %s: waking it for its timer failed", run_id)
                await self._fail(run_id, exc)
                return
            retry = self.runs.retry
            pause = self._pauses.get(run_id, retry.initial_backoff)
            self._pauses[run_id] = min(pause * 2, retry.max_backoff)
            log.warning(
                "run %s: a timer is due but the run cannot go on yet (%s); trying again in %gs",
                run_id,
                exc,
                pause,
            )
            self.runs.timers.arm(run_id, time.time() + pause)
        else:
            self._pauses.pop(run_id, None)

    async def _wake(self, run_id: str) -> None:
        async with self.runs.lock(run_id):
            run = await self.store.get_run(run_id)
            # Cancelled, deleted, answered or resumed meanwhile: nothing to do.
            if run is None or run.status not in WAITING or self.runs.is_active(run_id):
                return
            checkpoint = await self.store.get_checkpoint(run.latest_checkpoint_id, True)
            assert checkpoint is not None, "a run's latest checkpoint is never deleted"
            at = next_due(checkpoint.content.timers)
            if at is None:
                return
            if at > time.time():
                self.runs.timers.arm(run_id, at)
                return
            workflow = await self.workflows.get(run.workflow_id, run.workflow_version)
            check_signature(checkpoint, workflow)
            state = RunState.from_checkpoint(run_id, workflow.graph, checkpoint)
            epoch = await self.runs.claim(run_id)
            saved = checkpoint.content.executor_states
            incarnations = await self.runs.restore(state, saved, epoch)
            status = settled(True, bool(state.pending_requests))
            events = [ev.status_changed(status, state.superstep)]
            update = RunUpdate(status, state.superstep, epoch=epoch)
            await self.log.append(run_id, run.workflow_id, update, events)
            self.runs.launch(
                state,
                workflow,
                run.checkpoint_policy,
                status,
                incarnations=incarnations,
                epoch=epoch,
            )

    async def _fail(self, run_id: str, exc: Exception) -> None:
        async with self.runs.lock(run_id):
            run = await self.store.get_run(run_id)
            if run is not None and run.status in WAITING and not self.runs.is_active(run_id):
                await self.runs.fail_stored(
                    run, "TimerFailed", f"a timer was due: {type(exc).__name__}: {exc}"
                )


def _passes(exc: Exception) -> bool:
    """Whether what stopped the wake-up is likely to pass (so: try again)."""
    if isinstance(exc, FailedPrecondition):
        return exc.reason != Reason.GRAPH_CHANGED
    return isinstance(exc, Unavailable | StoreFull | StoreUnavailable)
