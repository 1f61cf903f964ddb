"""`RunDriver`: drives one run, superstep after superstep, until it finishes,
fails, waits for input or is cancelled.

A superstep's checkpoint commit goes on while the next superstep's Execute
calls are under way (RunCommits.begin; they are the only calls made
meanwhile): whatever else reads the latest checkpoint, calls an executor,
commits or ends the run waits for it first (`commits.wait`), and one that
failed is what the driver raises, the next superstep's work dropped.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Mapping

from stepline.v1 import events_pb2, executor_pb2, payload_pb2, workflow_pb2

from ..statuses import is_running, is_terminal
from ..store import NewCheckpoint, Store
from . import events as ev
from .calls import RunCalls, SaveFailed
from .commits import RunCommits
from .conditions import ConditionEvaluator
from .features import ServiceFeatures
from .observe import ROLLBACK_RUNNER_RESTARTED
from .ports import ExecutorCallError, ExecutorPort
from .recovery import ExecutorLost, RetryPolicy, restore_error, restore_with_retries
from .retries import kept_schedule, retrying, unsaved_retrying
from .router import Router
from .runlog import RunLog
from .state import RunState
from .superstep import (
    CollectError,
    checkpoint_due,
    collect,
    failed_events,
    limit_error,
    plan,
    warning_events,
)
from .superstep_calls import SuperstepCalls
from .timers import merged, split_due

E = events_pb2


class RunDriver:
    def __init__(
        self,
        state: RunState,
        store: Store,
        executors: ExecutorPort,
        log: RunLog,
        accepts: Mapping[str, frozenset[str]],
        policy: workflow_pb2.CheckpointPolicy | None = None,
        status: E.RunStatus = E.RUN_STATUS_RUNNING,
        retry: RetryPolicy | None = None,
        restore_first: bool = False,
        *,
        conditions: ConditionEvaluator,
        epoch: int,
        features: ServiceFeatures | None = None,
    ) -> None:
        """`epoch`: this driver's claim on the run (see fencing.py); its
        commits and executor calls carry it, and it stops when either is
        refused as stale."""
        self.state = state
        self.epoch = epoch
        self.router = Router(state.graph, conditions, accepts)
        self.store = store
        self.executors = executors
        self.log = log
        self.policy = policy or workflow_pb2.CheckpointPolicy()
        self.commits = RunCommits(log, state.run_id, state.graph, epoch, status, state.superstep)
        # Who ran since the last checkpoint (sparse checkpoint policies): their
        # states wait for it, as the supersteps' events wait in `commits`.
        self.dirty: set[str] = set()
        self.retry = retry or RetryPolicy()
        # After a runner restart the executors may hold anything: restore them.
        self.restore_first = restore_first
        self.resumed_because = "the runner restarted"
        self.rollbacks = 0  # since the last checkpoint
        # Executors a failure calls again: see unsaved_retrying.
        self.retrying = retrying(state.graph)
        self.calls = RunCalls(executors, state.run_id, state.graph, epoch, features)
        self.supersteps = SuperstepCalls(self.calls, self.commits, store, executors, self.policy)
        if restore_first:
            # The runner stopped; the next superstep may have been under way.
            self.supersteps.deliveries[state.superstep + 1] = 1
        # Due timers were routed since the last checkpoint: it must be redone.
        self.timers_routed = False

    @property
    def status(self) -> E.RunStatus:
        """The run's status, ahead of the store while supersteps are held back."""
        return self.commits.status

    async def run(self) -> None:
        """Run supersteps until there is nothing left to do now. An executor
        that restarts or goes away costs a rollback to the last checkpoint.
        Whatever stops it, the last superstep's commit landed first (a stop's
        cancel aside: `settle`), and one that failed is what it raises."""
        try:
            await self._run()
        except Exception:
            await self.commits.wait()
            raise
        await self.commits.wait()

    async def _run(self) -> None:
        if self.restore_first:
            if not await self._recover(None):
                return
            retried, pause = await kept_schedule(self.store, self.state)
            self.supersteps.retried.update(retried)
            await asyncio.sleep(pause)  # the retry schedule the log shows, kept across the restart
        if not await self._route_due():
            return
        while self.state.has_work:
            try:
                if not await self._next():
                    return
            except ExecutorLost as lost:
                if not await self._recover(str(lost), lost.reason):
                    return
        if is_terminal(self.status):
            return
        if self.timers_routed:
            # Due timers went nowhere (dropped): the checkpoint must forget them.
            await self._checkpoint([], self.state.settled_status)
        elif is_running(self.status):
            # Resumed with nothing to deliver: settle the status now.
            await self._commit([], self.state.settled_status)

    async def _commit(
        self,
        events: list[events_pb2.Event],
        status: E.RunStatus,
        checkpoint: NewCheckpoint | None = None,
    ) -> None:
        await self.commits.commit(events, status, self.state.superstep, checkpoint)

    async def _fail(
        self, error: payload_pb2.ErrorInfo, events: list[events_pb2.Event], step: int | None = None
    ) -> None:
        superstep = self.state.superstep
        await self.commits.fail(error, events, superstep if step is None else step, superstep)

    async def _next(self) -> bool:
        """The next superstep, or the end at the limit; False when the run ended."""
        if self.state.superstep >= self.state.graph.max_supersteps:
            if self.commits.held and not await self._checkpoint([], self.status):
                return False
            await self._fail(limit_error(self.state.graph.max_supersteps), [])
            return False
        with self.log.observer.superstep(self.state.graph.workflow_id, self.state.superstep + 1):
            return await self._superstep()

    async def _recover(self, reason: str | None, cause: str = ROLLBACK_RUNNER_RESTARTED) -> bool:
        """Restore every executor of the run to the last checkpoint (waiting for
        those that are away) and go on from there; False when the run failed.
        `reason` None means the runner itself restarted; `cause` names it as
        an observe.ROLLBACK_* word."""
        await self.commits.wait()  # the latest checkpoint is the one begun last
        observer, workflow_id = self.log.observer, self.state.graph.workflow_id
        self.rollbacks += 1
        if self.rollbacks > self.retry.attempts:
            error = payload_pb2.ErrorInfo(
                type="ExecutorLost",
                message=f"rolled back {self.retry.attempts} times without progress; last: {reason}",
            )
            await self._fail(error, [])
            return False
        refused = await self.calls.rollback_refused()  # a late handler could undo it all
        if refused is not None:
            await self._fail(refused, [])
            return False
        observer.rollback(workflow_id, cause)
        checkpoint = await self.store.get_checkpoint(self.state.checkpoint_id, True)
        assert checkpoint is not None, "a run's latest checkpoint is never deleted"
        try:
            restored = await restore_with_retries(
                self.executors,
                self.state.run_id,
                self.state.graph,
                checkpoint.content.executor_states,
                self.epoch,
                self.retry,
                lambda: observer.executor_retry(workflow_id),
            )
            self.calls.restored(restored)
        except ExecutorCallError as exc:
            await self._fail(restore_error(exc, self.retry.attempts, checkpoint.checkpoint_id), [])
            return False
        self.state = RunState.from_checkpoint(self.state.run_id, self.state.graph, checkpoint)
        self.commits.rolled_back(checkpoint.superstep)
        self.dirty = set()
        self.timers_routed = False
        if reason is None:
            kind, message = E.EVENT_KIND_RUN_RESUMED, self.resumed_because
        else:
            kind, message = E.EVENT_KIND_ROLLBACK, reason
        event = ev.event(
            kind, checkpoint.superstep, checkpoint_id=checkpoint.checkpoint_id, message=message
        )
        await self._commit([event], self.state.settled_status)
        return True

    async def _superstep(self) -> bool:
        """Run one superstep and commit it; False when the run failed."""
        state = self.state
        delivery = plan(state)
        step = delivery.step
        events = delivery.started()
        outcomes = await self.supersteps.run(state, delivery, events)
        lost = [o for o in outcomes if o.lost]
        if lost:
            raise ExecutorLost(lost[0].lost, lost[0].lost_reason)
        errors = [o.error for o in outcomes if o.error is not None]
        if errors:
            await self._fail(errors[0], events + failed_events(step, errors), step)
            return False
        answers = [(o.executor_id, o.response) for o in outcomes if o.response is not None]
        try:
            collected = collect(
                state.run_id,
                step,
                answers,
                state.shared_state,
                state.pending_requests,
                time.time(),
            )
            routed, warnings = await self.router.route(collected.sent, state.fan_in)
            # Timers due by now go out with the superstep's own messages.
            due, timers = split_due(merged(state.timers, collected.timers), time.time())
            timed, timed_warnings = await self.router.route(due, routed.fan_in)
        except CollectError as exc:
            await self._fail(exc.error, events, step)
            return False
        events += collected.events + warning_events(step, warnings + timed_warnings)
        state.advance(
            step,
            routed.deliveries + timed.deliveries,
            timed.fan_in,
            collected.shared_state,
            collected.requests,
        )
        state.timers = timers
        self.dirty.update(delivery.invoked)
        status = state.settled_status
        if checkpoint_due(self.policy, step, status) or unsaved_retrying(
            state, self.dirty, self.retrying
        ):
            returned = {o.executor_id: o.saved for o in outcomes if o.saved is not None}
            # Committed while the next superstep's calls are under way.
            return await self._checkpoint(events, status, returned, begin=True)
        events.append(ev.event(E.EVENT_KIND_SUPERSTEP_COMPLETED, step))
        if status != self.commits.status:
            events.append(ev.status_changed(status, step))
            self.commits.status = status
        self.commits.held += events
        return True

    async def _route_due(self) -> bool:
        """When the run goes on (woken, resumed): route the timers due by now,
        as if sent now, for the next superstep; False when that failed the run."""
        try:
            warnings = await self.router.take_due(self.state, time.time())
        except CollectError as exc:
            await self._fail(exc.error, [])
            return False
        if warnings is not None:
            self.commits.held += warning_events(self.state.superstep, warnings)
            self.timers_routed = True
        return True

    async def _checkpoint(
        self,
        events: list[events_pb2.Event],
        status: E.RunStatus,
        returned: Mapping[str, executor_pb2.SaveCheckpointResponse] | None = None,
        begin: bool = False,
    ) -> bool:
        """Save the states of who ran since the last checkpoint (`returned`:
        those that came with Execute), then commit the checkpoint with every
        event held since (`begin`: only start it, see RunCommits.begin);
        False when the run failed."""
        await self.commits.wait()  # SaveCheckpoint calls only after the last commit landed
        state = self.state
        try:
            saved = await self.calls.save_states(state.states, sorted(self.dirty), returned)
        except SaveFailed as exc:
            error = payload_pb2.ErrorInfo(
                type="SaveCheckpointFailed", message=str(exc), executor_id=exc.executor_id
            )
            self.commits.held += events
            await self._fail(error, [], state.superstep)
            return False
        changed = frozenset(x for x, ref in saved.items() if state.states.get(x) != ref.stored())
        written = sum(len(ref.data) for ref in saved.values() if ref.data is not None)
        self.log.observer.checkpoint_saved(state.graph.workflow_id, written)
        state.states.update(saved)
        checkpoint = state.checkpoint(state.checkpoint_id, changed)
        # The checkpoint carries the bytes to the store; the run keeps hashes.
        state.states = {x: ref.stored() for x, ref in state.states.items()}
        state.checkpoint_id = checkpoint.checkpoint_id
        self.dirty.clear()
        self.timers_routed = False
        self.rollbacks = 0
        self.supersteps.checkpointed()
        events = self.commits.held + events
        self.commits.held = []
        events.append(
            ev.event(
                E.EVENT_KIND_SUPERSTEP_COMPLETED,
                state.superstep,
                checkpoint_id=checkpoint.checkpoint_id,
            )
        )
        if begin:
            self.commits.begin(events, status, state.superstep, checkpoint)
        else:
            await self._commit(events, status, checkpoint)
        return True

    async def settle(self) -> None:
        """Wait for a commit that a cancel interrupted to finish."""
        await self.commits.settle()

    async def fail_internal(self, exc: Exception) -> None:
        """Fail the run for an error of the runner itself."""
        error = payload_pb2.ErrorInfo(
            type="InternalError",
            message=f"the runner failed driving this run ({type(exc).__name__}: {exc}); it can "
            "be resumed from its latest checkpoint",
            traceback="".join(traceback.format_exception(exc)),
        )
        self.commits.held = []
        await self._fail(error, [])
