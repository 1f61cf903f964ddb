"""`RunCommits`: how a driver writes its run's log, and what it holds back.

Every commit carries the run's new status (a STATUS_CHANGED event when it
changes) and the driver's epoch; a checkpoint's commit moves the committed
superstep. Under a sparse checkpoint policy the events of supersteps not
checkpointed yet are held here, and go out with the next checkpoint; a run
that fails first drops them with a warning (they re-run on resume, and
logging them now would log their outputs twice). A commit once started
finishes even if the driver is cancelled meanwhile: `settle` waits for it.

A superstep's commit may go on while the next superstep's calls are under
way (`begin`, then `wait`): the driver waits for it before anything else
uses the store's latest checkpoint or calls an executor again, and every
commit waits for the one before, so a run's commits stay in order.
"""

from __future__ import annotations

import asyncio
import logging

from stepline.v1 import events_pb2, payload_pb2

from ..store import NewCheckpoint, RunUpdate
from . import events as ev
from .graph import Graph
from .runlog import RunLog

E = events_pb2
log = logging.getLogger(__name__)


class RunCommits:
    def __init__(
        self,
        log: RunLog,
        run_id: str,
        graph: Graph,
        epoch: int,
        status: E.RunStatus,
        superstep: int,
    ) -> None:
        self.log = log
        self.run_id = run_id
        self.graph = graph
        self.epoch = epoch
        # `status` runs ahead of the store while supersteps are held back.
        self.status = status
        self.committed_status = status
        self.committed_superstep = superstep
        # Events of the supersteps run since the last checkpoint.
        self.held: list[events_pb2.Event] = []
        self._committing: asyncio.Future[None] | None = None

    def rolled_back(self, superstep: int) -> None:
        """The run went back to its checkpoint at `superstep`: what was held is gone."""
        self.held = []
        self.committed_superstep = superstep
        self.status = self.committed_status

    async def commit(
        self,
        events: list[events_pb2.Event],
        status: E.RunStatus,
        superstep: int,
        checkpoint: NewCheckpoint | None = None,
        error: payload_pb2.ErrorInfo | None = None,
    ) -> None:
        """Commit `events` (and `checkpoint`) with the run's new `status`,
        after the commit under way (`begin`); `superstep` is the run's current one."""
        await self.wait()
        self.begin(events, status, superstep, checkpoint, error)
        await self.wait()

    def begin(
        self,
        events: list[events_pb2.Event],
        status: E.RunStatus,
        superstep: int,
        checkpoint: NewCheckpoint | None = None,
        error: payload_pb2.ErrorInfo | None = None,
    ) -> None:
        """Start the commit of `commit` and return at once; `wait` hears how it
        went. The caller has `wait`ed for the one before (one at a time, in order)."""
        assert self._committing is None, "a run's commits go one at a time"
        if status != self.status:
            events.append(ev.status_changed(status, superstep))
            self.status = status
        # The committed superstep moves once the checkpoint is stored: a commit
        # that fails short of the store leaves the run as of the last one.
        committed = self.committed_superstep if checkpoint is None else checkpoint.superstep
        update = RunUpdate(status, committed, error, epoch=self.epoch)
        # Once a commit starts it finishes, cancel or not; `settle` waits for it.
        self._committing = asyncio.ensure_future(self._append(update, events, checkpoint))

    async def wait(self) -> None:
        """Wait for the commit under way, if any (cancelling the caller does
        not cancel it); raise what it raised."""
        committing = self._committing
        if committing is None:
            return
        try:
            await asyncio.shield(committing)
        except asyncio.CancelledError:
            raise  # a stop: `settle` waits for the commit, and tells what it raised
        except BaseException:
            self._committing = None  # the caller hears what it raised
            raise
        self._committing = None

    async def fail(
        self,
        error: payload_pb2.ErrorInfo,
        events: list[events_pb2.Event],
        step: int,
        superstep: int,
    ) -> None:
        """Fail the run in `step` with `error`, after `events`; `superstep`
        is the run's current one."""
        await self.wait()  # what it left committed is what the warning counts from
        if self.held:
            # Not checkpointed, so they re-run on resume: logging them now
            # would log their outputs twice.
            first, last = self.committed_superstep + 1, superstep
            events.insert(
                0,
                ev.event(
                    E.EVENT_KIND_WARNING,
                    step,
                    message=f"superstep(s) {first}-{last} were not checkpointed; their events "
                    "are dropped and they re-run on resume",
                ),
            )
            self.held = []
        events.append(
            ev.event(E.EVENT_KIND_RUN_FAILED, step, error=error, executor_id=error.executor_id)
        )
        await self.commit(events, E.RUN_STATUS_FAILED, superstep, error=error)

    async def landed(self) -> None:
        """Wait for the commit under way, if any, to end (raising nothing:
        the driver hears how it went)."""
        if self._committing is not None:
            await asyncio.wait([self._committing])

    async def settle(self) -> None:
        """Wait for a commit that a cancel interrupted to finish; what it
        raised, the driver (stopped) never hears: it is logged here."""
        committing = self._committing
        if committing is None:
            return
        await asyncio.wait([committing])
        self._committing = None
        if not committing.cancelled() and (exc := committing.exception()) is not None:
            log.warning(
                "run %s: the commit under way when its driver stopped failed (%s: %s)",
                self.run_id,
                type(exc).__name__,
                exc,
            )

    async def _append(
        self, update: RunUpdate, events: list[events_pb2.Event], checkpoint: NewCheckpoint | None
    ) -> None:
        graph = self.graph
        await self.log.append(
            self.run_id,
            graph.workflow_id,
            update,
            events,
            checkpoint,
            graph.definition.retention.keep_last,
        )
        self.committed_status = update.status
        self.committed_superstep = update.superstep
