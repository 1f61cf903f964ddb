"""`Supervisor`: the runs this runner drives right now: their tasks, their
locks, and bringing them back after a restart."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Iterable, Mapping

from stepline.v1 import events_pb2, executor_pb2, payload_pb2, runner_pb2, workflow_pb2

from ..statuses import WAITING, is_running, is_terminal
from ..store import Store
from .conditions import ConditionEvaluator
from .drive_ends import StorePauses, drive, store_out_of_reach, stored_failure
from .driver import RunDriver
from .errors import (
    DataLoss,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    Reason,
    StoreFull,
    StoreUnavailable,
    Unavailable,
)
from .features import ServiceFeatures
from .gates import NodeGates
from .late_calls import LateCalls
from .ports import ExecutorPort
from .recovery import LEFT_TO_DRIVER, RetryPolicy, restore_run
from .registry import Workflow, WorkflowRegistry
from .runlog import RunLog
from .shared import SharedStore, keeps_created
from .state import RunState
from .stops import Stops
from .timers import TimerWheel, next_due

E = events_pb2
log = logging.getLogger(__name__)


class Supervisor:
    def __init__(
        self,
        store: Store,
        executors: ExecutorPort,
        log: RunLog,
        workflows: WorkflowRegistry,
        retry: RetryPolicy,
        conditions: ConditionEvaluator,
    ) -> None:
        self.store = store
        self.conditions = conditions
        self.executors = executors
        # What each executor service advertises, shared by every run.
        self.features = ServiceFeatures(executors)
        self.log = log
        self.workflows = workflows
        self.retry = retry
        self._active: dict[str, asyncio.Task[None]] = {}
        self._drivers: dict[str, RunDriver] = {}
        self._stops = Stops()  # runs being stopped: active until their last commit landed
        self._recovering: set[asyncio.Task[None]] = set()
        # Runs whose commit the store refused, and their next pause.
        self._store_pauses = StorePauses(retry)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._closing = False
        # The database other runners share, once Runner.share says so.
        self.shared: SharedStore | None = None
        # Per-node limits on Execute calls in flight, across runs.
        self.gates = NodeGates()
        # Calls past their deadline, which whatever restores a run waits for.
        self.late = LateCalls()
        # Wakes runs that wait for timers (`start`ed by the Runner with a Waker).
        self.timers = TimerWheel()
        # Set by the LeaseKeeper: True when a run goes to another runner instead
        # (`full`: while one launched now would).
        self.hand_on: Callable[[str], bool] | None = None
        self.full: Callable[[], bool] = lambda: False

    def lock(self, run_id: str) -> asyncio.Lock:
        """Held while a call changes what drives the run (start, resume, cancel...).
        A lock lives as long as someone holds or awaits it."""
        lock = self._locks.get(run_id)
        if lock is None:
            lock = self._locks[run_id] = asyncio.Lock()
        return lock

    def is_active(self, run_id: str) -> bool:
        return run_id in self._active or run_id in self._stops

    async def driven_elsewhere(self, run_id: str) -> bool:
        """Another runner drives the run (it holds a live lease of it)."""
        return self.shared is not None and await self.shared.held_elsewhere(run_id)

    async def keeps(self, run_id: str) -> bool:
        """Whether this runner drives the run it just created: yes, unless
        runners share the database and it holds more than its fair share of
        the running runs (then another claims it, see leases.py)."""
        return await keeps_created(self.shared, run_id)

    def active_ids(self) -> set[str]:
        """The runs this runner drives right now, or is stopping."""
        return {*self._active, *self._stops.run_ids()}

    def driver(self, run_id: str) -> RunDriver | None:
        return self._drivers.get(run_id)

    def task(self, run_id: str) -> asyncio.Task[None] | None:
        return self._active.get(run_id)

    async def claim(self, run_id: str) -> int:
        """Take the run in hand: a new epoch for it, which fences out whoever
        drove it before (see fencing.py)."""
        return await self.store.claim_run(run_id)

    def check_open(self) -> None:
        if self._closing:
            raise Unavailable("the runner is shutting down", reason=Reason.SHUTTING_DOWN)

    async def stop(self, run_id: str) -> None:
        """Cancel the run's driver, in-flight calls included, and wait for it
        and for its last commit (see stops.py)."""
        await self._stops.stop(
            run_id, self._active.pop(run_id, None), self._drivers.pop(run_id, None)
        )

    async def resume_unfinished(self) -> list[str]:
        """After a restart: go on with every run that was running, from its
        latest checkpoint, without a human. Returns their ids."""
        unfinished = await self.store.list_unfinished_runs()
        for run in unfinished:
            if run.status in WAITING:
                await self.rearm(run)
        runs = [r for r in unfinished if is_running(r.status)]
        for run in runs:
            self.recover(run)
        return [r.run_id for r in runs]

    def recover(self, run: runner_pb2.Run, claimed: bool = False) -> None:
        """Go on with a stored running run from its latest checkpoint, in a task
        that waits for its executors (or fails the run when they stay away);
        `claimed` at `run.epoch` already (a lease taken over), else claimed first."""
        task = asyncio.create_task(
            self._resume_unfinished(run, run.epoch if claimed else 0),
            name=f"recover-{run.run_id}",
        )
        self._recovering.add(task)
        task.add_done_callback(self._recovering.discard)

    async def rearm(self, run: runner_pb2.Run) -> None:
        """Arm the timer wheel for a waiting run's first timer, if it has one."""
        checkpoint = await self.store.get_checkpoint(
            run.latest_checkpoint_id, include_content=True, include_states=False
        )
        at = None if checkpoint is None else next_due(checkpoint.content.timers)
        if at is not None:
            self.timers.arm(run.run_id, at)

    async def _resume_unfinished(self, run: runner_pb2.Run, epoch: int = 0) -> None:
        try:
            await self._try_resume_unfinished(run, epoch)
        except Exception as exc:
            if store_out_of_reach(exc):
                log.warning("run %s: cannot resume it (%s); will try again", run.run_id, exc)
                self._resume_later(run.run_id)
                return
            # Never leave a run "running" with nothing driving it.
            log.exception("run %s: resuming it after the restart failed", run.run_id)
            kind = "DataLoss" if isinstance(exc, DataLoss) else "InternalError"
            async with self.lock(run.run_id):
                current = await self.store.get_run(run.run_id)
                if (
                    current is not None
                    and is_running(current.status)
                    and not self.is_active(run.run_id)
                ):
                    await self.fail_stored(current, kind, f"{type(exc).__name__}: {exc}")

    async def _try_resume_unfinished(self, run: runner_pb2.Run, epoch: int = 0) -> None:
        """Resume the run after a restart or a takeover; `epoch`: the one it
        was claimed at (0: claim it now)."""
        run_id = run.run_id
        workflow: Workflow | None = None
        failure: tuple[str, str] | None = None
        pauses = self.retry.pauses()
        while workflow is None and failure is None:
            try:
                # The run's own version: a MoveRuns while we wait takes effect.
                workflow = await self.workflows.get(run.workflow_id, run.workflow_version)
            except FailedPrecondition as exc:  # its executors are not back yet
                pause = next(pauses, None)
                if pause is None:
                    failure = ("ExecutorUnavailable", str(exc))
                else:
                    await asyncio.sleep(pause)  # backoff before the next attempt
                    current = await self.store.get_run(run_id)
                    if current is None or not is_running(current.status):
                        return
                    run = current
            except PermissionDenied as exc:  # an endpoint the allow-list no longer has
                failure = ("EndpointNotAllowed", str(exc))
            except InvalidArgument as exc:
                # Stored by an older runner with looser checks: never run it
                # (its condition might crash or freeze us at every restart).
                failure = (
                    "WorkflowRefused",
                    f"this runner refuses the stored definition of workflow "
                    f"{run.workflow_id!r}: {exc}; register a fixed definition, move the run "
                    f"to it, then resume the run from checkpoint {run.latest_checkpoint_id}",
                )
        if workflow is not None and workflow.graph.signature != run.graph_signature:
            failure = (
                "GraphChanged",
                f"version {workflow.version} of workflow {run.workflow_id!r} has another graph "
                "than this run; move the run to a version with its graph and resume it",
            )
        async with self.lock(run_id):
            # While we waited, a caller may have resumed, cancelled, moved or finished it.
            current = await self.store.get_run(run_id)
            if (
                current is None
                or not is_running(current.status)
                or self.is_active(run_id)
                or self._closing
                or (epoch and current.epoch != epoch)  # taken over again meanwhile
            ):
                return
            if failure is not None:
                await self.fail_stored(current, *failure)
                return
            assert workflow is not None
            if current.workflow_version != workflow.version:
                moved = True
            else:
                moved = False
                checkpoint = await self.store.get_checkpoint(current.latest_checkpoint_id, True)
                assert checkpoint is not None, "a run's latest checkpoint is never deleted"
                state = RunState.from_checkpoint(run_id, workflow.graph, checkpoint)
                # Claimed at epoch 1: handed out at its start, never driven.
                fresh = epoch == 1 and current.superstep == 0
                epoch = epoch or await self.claim(run_id)
                self.launch(
                    state,
                    workflow,
                    current.checkpoint_policy,
                    current.status,
                    restore_first=not fresh,
                    epoch=epoch,
                )
        if moved:
            await self._try_resume_unfinished(current, epoch)

    async def fail_stored(self, run: runner_pb2.Run, kind: str, message: str) -> None:
        """Fail a run that nothing drives, with an error of type `kind`."""
        update, events = stored_failure(run, kind, message)
        await self.log.append(run.run_id, run.workflow_id, update, events)

    async def close(self) -> None:
        """Stop driving runs. They stay as stored, to be resumed on restart."""
        self._closing = True
        await self.timers.close()
        tasks = [*self._active.values(), *self._recovering]
        drivers = list(self._drivers.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # A cancel never interrupts a commit (it is shielded): let those under
        # way land before the caller closes the store under them.
        await asyncio.gather(*(d.settle() for d in drivers), *self._stops.under_way())

    def launch(
        self,
        state: RunState,
        workflow: Workflow,
        policy: workflow_pb2.CheckpointPolicy,
        status: E.RunStatus = E.RUN_STATUS_RUNNING,
        restore_first: bool = False,
        incarnations: Mapping[str, str] | None = None,
        *,
        epoch: int,
    ) -> None:
        """Drive the run in a task of its own, with the caller's claim
        `epoch`. `incarnations` are those the caller's restore saw, so a
        restart right after it is noticed."""
        self.check_open()
        if incarnations is LEFT_TO_DRIVER:  # not restored: whoever drives it restores first
            restore_first, incarnations = True, None
        if self.hand_on is not None and self.hand_on(state.run_id):
            self.log.forget(state.run_id)  # another runner drives it from its start
            return
        driver = RunDriver(
            state,
            self.store,
            self.executors,
            self.log,
            workflow.accepts,
            policy,
            status,
            self.retry,
            restore_first,
            conditions=self.conditions,
            epoch=epoch,
            features=self.features,
        )
        driver.calls.incarnations.update(incarnations or {})
        driver.calls.gates = self.gates
        driver.calls.late = self.late
        if state.run_id in self._store_pauses:
            driver.resumed_because = "the store takes writes again"
        resumed = restore_first or incarnations is not None
        task = asyncio.create_task(self._drive(driver, resumed), name=f"run-{state.run_id}")
        self._active[state.run_id] = task
        self._drivers[state.run_id] = driver

    async def _drive(self, driver: RunDriver, resumed: bool) -> None:
        run_id = driver.state.run_id
        workflow_id = driver.state.graph.workflow_id
        with self.log.observer.run(run_id, workflow_id, resumed):
            await self._drive_observed(driver)

    async def _drive_observed(self, driver: RunDriver) -> None:
        run_id = driver.state.run_id
        try:
            # Still counted active, so a resume cannot race this EndRun.
            if await drive(driver, self.store, self._resume_later) and is_terminal(driver.status):
                self._store_pauses.clear(run_id)
                await self.end_run(run_id, driver.state.graph.nodes.values(), driver.epoch)
        finally:
            if self._active.get(run_id) is asyncio.current_task():
                del self._active[run_id]
                del self._drivers[run_id]
            # Once not active: a wake-up that finds the run active does nothing.
            at = next_due(driver.state.timers)
            if at is not None and driver.status in WAITING:
                self.timers.arm(run_id, at)

    def recheck(self, run_id: str) -> None:
        """A commit of the run may or may not have landed: read the run again
        soon and, if it is running with nothing driving it, go on from there."""
        self._resume_later(run_id)

    def _resume_later(self, run_id: str) -> None:
        pause = self._store_pauses.next(run_id)

        async def resume() -> None:
            await asyncio.sleep(pause)  # backoff while the store is out of reach
            try:
                run = await self.store.get_run(run_id)
                # Before the run goes on: what landed unheard reaches watchers first.
                await self.log.catch_up(run_id)
            except (StoreFull, StoreUnavailable) as exc:  # a server away: reads fail too
                log.warning("run %s: the store is still out of reach (%s)", run_id, exc)
                self._resume_later(run_id)
                return
            if run is not None and is_running(run.status):
                await self._resume_unfinished(run)

        task = asyncio.create_task(resume(), name=f"store-retry-{run_id}")
        self._recovering.add(task)
        task.add_done_callback(self._recovering.discard)

    async def restore(
        self, state: RunState, saved: Mapping[str, payload_pb2.Payload], epoch: int
    ) -> Mapping[str, str]:
        """Put every executor of the run back to the checkpoint's state, with
        the caller's claim `epoch`, waiting (with the retry policy) for services
        that are just coming back. Returns each endpoint's incarnation id, for
        `launch`; or LEFT_TO_DRIVER when this runner has no room to drive the
        run: the runner that claims it restores them (once, not twice)."""
        if self.full():
            return LEFT_TO_DRIVER
        workflow_id = state.graph.workflow_id
        return await restore_run(
            self.executors,
            state.run_id,
            state.graph,
            saved,
            epoch,
            self.retry,
            lambda: self.log.observer.executor_retry(workflow_id),
        )

    async def end_run(
        self, run_id: str, nodes: Iterable[workflow_pb2.ExecutorNode], epoch: int
    ) -> None:
        """Let executor services release the run's objects (best effort)."""
        endpoints = {n.endpoint for n in nodes}
        request = executor_pb2.EndRunRequest(run_id=run_id, epoch=epoch)
        stream = self.features.ends_on_stream  # where the service takes it there
        await asyncio.gather(
            *(self.executors.end_run(e, request, stream(e)) for e in endpoints),
            return_exceptions=True,
        )
