"""Concurrency limits: how many runs of a workflow are under way at once,
and how many Execute calls a node has in flight across its runs.

A workflow's `max_concurrent_runs` counts its runs that have not ended
(waiting for input included) as the store has them, so the count survives a
restart; a StartRun beyond it stores the run as QUEUED, checkpoint 0 and all,
and `Admission` starts queued runs, oldest first, whenever one of the
workflow's runs ends (and once at start-up). One asyncio lock per workflow
makes "count, then start or queue" atomic on this runner; runners sharing
a database take an advisory lock of the workflow's there too.

A node's `max_concurrent_executes` is enforced in gates.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from stepline.v1 import events_pb2, runner_pb2, workflow_pb2

from ..statuses import QUEUED, TERMINAL
from ..store import RunUpdate, Store
from . import events as ev
from .errors import InvalidWorkflow
from .state import RunState

if TYPE_CHECKING:  # registry.py imports check_limits from here
    from .new_runs import NewRun
    from .registry import WorkflowRegistry
    from .runlog import RunLog
    from .supervisor import Supervisor

E = events_pb2
log = logging.getLogger(__name__)

MAX_CONCURRENT_RUNS = 100_000
MAX_CONCURRENT_EXECUTES = 10_000
# Statuses that hold one of a workflow's slots: begun and not ended.
OCCUPYING = frozenset(set(E.RunStatus.values()) - TERMINAL - {QUEUED, E.RUN_STATUS_UNSPECIFIED})
QUEUED_ONLY = frozenset({QUEUED})


def check_limits(definition: workflow_pb2.WorkflowDefinition) -> None:
    """Refuse limits out of range, naming the field."""
    if not 0 <= definition.max_concurrent_runs <= MAX_CONCURRENT_RUNS:
        raise InvalidWorkflow(
            f"max_concurrent_runs must be 0 (no limit) to {MAX_CONCURRENT_RUNS}, "
            f"not {definition.max_concurrent_runs}"
        )
    for i, node in enumerate(definition.executors):
        if not 0 <= node.max_concurrent_executes <= MAX_CONCURRENT_EXECUTES:
            raise InvalidWorkflow(
                f"executors[{i}].max_concurrent_executes must be 0 (no limit) to "
                f"{MAX_CONCURRENT_EXECUTES}, not {node.max_concurrent_executes}"
            )


def to_admit(limit: int, occupying: int, queued: int) -> int:
    """How many queued runs start now: as many as there are free slots."""
    if not limit:
        return queued
    return max(0, min(limit - occupying, queued))


def queued_event(limit: int) -> events_pb2.Event:
    return ev.event(
        E.EVENT_KIND_STATUS_CHANGED,
        0,
        status=QUEUED,
        message=f"queued: the workflow's {limit} concurrent runs (max_concurrent_runs) are "
        "under way; it starts when one ends",
    )


class Admission:
    """Decides whether a new run starts or queues, and starts queued runs."""

    def __init__(
        self, store: Store, runs: Supervisor, workflows: WorkflowRegistry, log: RunLog
    ) -> None:
        self._store = store
        self._runs = runs
        self._workflows = workflows
        self._log = log
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._tasks: set[asyncio.Task[None]] = set()
        # Workflows whose admit task has not counted their runs yet: a slot
        # freed meanwhile is counted by it, so it needs no task of its own.
        self._uncounted: set[str] = set()
        # Workflows whose latest version has no limit and no run queued, while
        # no other runner uses the database (every version is registered
        # here then): no run of theirs waits for a slot. None once shared.
        self._unlimited: set[str] | None = set()
        self._registered: Counter[str] = Counter()  # changes to that, by workflow
        self._closed = False

    @contextlib.asynccontextmanager
    async def lock(self, workflow_id: str, limited: bool = True) -> AsyncIterator[None]:
        """Held from counting a workflow's runs to storing the one that counts:
        on this runner, and (`limited`: the workflow has a limit) across the
        runners sharing the database, whose counts are the same rows. A run
        of a workflow without a limit counts for nothing: its start takes no
        lock (`limited` False), so many start at once."""
        if not limited:
            yield
            return
        lock = self._locks.get(workflow_id)
        if lock is None:
            lock = self._locks[workflow_id] = asyncio.Lock()
        async with lock:
            if limited and self._runs.shared is not None:
                async with self._runs.shared.admitting(workflow_id):
                    yield
            else:
                yield

    async def hold_back(self, new: NewRun, definition: workflow_pb2.WorkflowDefinition) -> bool:
        """Whether a new run must wait, and if so make it a QUEUED one (call
        under `lock(workflow_id)`): all slots are taken, or older runs wait
        already (first come, first served)."""
        if not await self.must_queue(definition.workflow_id, definition.max_concurrent_runs):
            return False
        # A fork keeps its source's version, whose limit the latest may not have.
        self._may_queue(definition.workflow_id)
        new.run.status = QUEUED
        new.events[-1] = queued_event(definition.max_concurrent_runs)
        return True

    async def queue_limit(self, workflow_id: str) -> int:
        """The workflow's max_concurrent_runs (its latest version's) when a run
        that begins now must queue, else 0: for a resumed run that had ended
        (call under `lock(workflow_id)`)."""
        stored = await self._store.get_workflow(workflow_id)
        limit = 0 if stored is None else stored.definition.max_concurrent_runs
        if not await self.must_queue(workflow_id, limit):
            return 0
        self._may_queue(workflow_id)
        return limit

    async def must_queue(self, workflow_id: str, limit: int, counted: int = 0) -> bool:
        """Whether a run that begins now must queue; `counted`: it is among
        the occupying runs already."""
        if not limit:
            return False
        if await self._store.count_runs(workflow_id, QUEUED_ONLY):
            return True
        return await self._store.count_runs(workflow_id, OCCUPYING) - counted >= limit

    def seen(self, workflow_id: str) -> int:
        """What a start that takes no lock (no limit) is told before it reads
        the workflow, for `limit_came`."""
        return self._registered[workflow_id]

    async def limit_came(self, workflow_id: str, seen: int) -> bool:
        """Whether a version with a limit may have been registered since
        `seen` (a start without the lock created its run meanwhile, and a
        limited start may not have counted it): here, or, runners sharing
        the database, elsewhere, which only the store can say."""
        if self._registered[workflow_id] != seen:
            return True
        if self._unlimited is not None:  # every version is registered here
            return False
        stored = await self._store.get_workflow(workflow_id)
        return stored is not None and stored.definition.max_concurrent_runs > 0

    async def settle(
        self, workflow_id: str, run_id: str, launch: Callable[[], Awaitable[None]]
    ) -> runner_pb2.Run | None:
        """A run created without the lock when a limit came meanwhile (see
        `limit_came`): under the lock, counted with the others, it queues
        if the limit is exceeded with it, else `launch` drives it. Returns
        the run as read before its launch (None: deleted)."""
        async with self.lock(workflow_id), self._runs.lock(run_id):
            run = await self._store.get_run(run_id)
            if run is None or run.status != E.RUN_STATUS_RUNNING or self._runs.is_active(run_id):
                return run  # cancelled meanwhile, say
            stored = await self._store.get_workflow(workflow_id)
            limit = 0 if stored is None else stored.definition.max_concurrent_runs
            if await self.must_queue(workflow_id, limit, counted=1):
                self._may_queue(workflow_id)
                update = RunUpdate(QUEUED, run.superstep, epoch=run.epoch)
                await self._log.append(run_id, workflow_id, update, [queued_event(limit)])
                return await self._store.get_run(run_id)
            await launch()
            return run

    def share(self) -> None:
        """Other runners register versions and queue runs too: count each time."""
        self._unlimited = None

    def limit_changed(self, workflow_id: str) -> None:
        """A new version of the workflow was registered: its limit may free slots."""
        self._may_queue(workflow_id)
        self.slot_freed(workflow_id)

    def _may_queue(self, workflow_id: str) -> None:
        """A run of the workflow may be queued now: its ends are counted again."""
        self._registered[workflow_id] += 1
        if self._unlimited is not None:
            self._unlimited.discard(workflow_id)

    def slot_freed(self, workflow_id: str) -> None:
        """A run of the workflow ended: start queued ones, in a task of their own
        (the caller may hold a run's lock, which starting one takes too)."""
        if self._closed:
            return  # the runner stops; a restart starts them (admit_all)
        if self._unlimited is not None and workflow_id in self._unlimited:
            return  # nothing queued, and nothing can queue
        if workflow_id in self._uncounted:
            return  # the task that will count them is waiting: it sees this slot
        self._uncounted.add(workflow_id)
        task = asyncio.create_task(self._admit_freed(workflow_id), name=f"admit-{workflow_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _admit_freed(self, workflow_id: str) -> None:
        try:
            await self.admit(workflow_id, counting=self._uncounted.discard)
        finally:
            self._uncounted.discard(workflow_id)  # cancelled before it counted

    async def admit(self, workflow_id: str, counting: Callable[[str], None] | None = None) -> None:
        """Start the workflow's oldest queued runs while slots are free;
        `counting(workflow_id)` is told just before the runs are counted."""
        try:
            async with self.lock(workflow_id):
                if counting is not None:
                    counting(workflow_id)
                await self._admit(workflow_id)
        except Exception:
            # The runs stay QUEUED; the next run that ends (or a restart) tries again.
            log.exception("workflow %s: starting queued runs failed", workflow_id)

    async def _admit(self, workflow_id: str) -> None:
        registered = self._registered[workflow_id]
        stored = await self._store.get_workflow(workflow_id)
        if stored is None:
            return
        limit = stored.definition.max_concurrent_runs
        occupying = await self._store.count_runs(workflow_id, OCCUPYING) if limit else 0
        queued = await self._store.count_runs(workflow_id, QUEUED_ONLY)
        # Until a new version or a queued run (and none since the read).
        unchanged = registered == self._registered[workflow_id]
        if not limit and not queued and unchanged and self._unlimited is not None:
            self._unlimited.add(workflow_id)
        count = to_admit(limit, occupying, queued)
        if not count:
            return
        for run in await self._store.oldest_runs(workflow_id, QUEUED_ONLY, count):
            await self._start(run.run_id)

    async def _start(self, run_id: str) -> None:
        """Take a queued run out of the queue and drive it from checkpoint 0."""
        async with self._runs.lock(run_id):
            run = await self._store.get_run(run_id)
            if run is None or run.status != QUEUED or self._runs.is_active(run_id):
                return  # cancelled (or deleted) meanwhile
            epoch = await self._runs.claim(run_id)  # taken in hand: its driver's epoch
            update, events = started_update(run, epoch)
            await self._log.append(run_id, run.workflow_id, update, events)
            run.epoch = epoch
            run.status = update.status
            try:
                workflow = await self._workflows.get(run.workflow_id, run.workflow_version)
                checkpoint = await self._store.get_checkpoint(run.latest_checkpoint_id, True)
                assert checkpoint is not None, "a run's latest checkpoint is never deleted"
                state = RunState.from_checkpoint(run_id, workflow.graph, checkpoint)
                incarnations = None
                if goes_on(run, checkpoint):
                    saved = checkpoint.content.executor_states
                    incarnations = await self._runs.restore(state, saved, epoch)
            except Exception as exc:
                # Its executors are away, say: recovery waits for them (or fails
                # the run), as after a restart.
                log.warning("run %s: cannot start it now (%s); recovering it", run_id, exc)
                self._runs.recover(run)
                return
            self._runs.launch(
                state, workflow, run.checkpoint_policy, incarnations=incarnations, epoch=epoch
            )

    def admit_all_later(self) -> None:
        """`admit_all` in a task of its own (a runner becoming the leader)."""

        async def admit_all() -> None:
            try:
                await self.admit_all()
            except Exception:  # the store out of reach: the next run that ends admits
                log.exception("starting queued runs failed")

        if not self._closed:
            task = asyncio.create_task(admit_all(), name="admit-all")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def admit_all(self) -> None:
        """At start-up: every workflow with queued runs, once."""
        workflows = {r.workflow_id for r in await self._store.list_unfinished_runs()}
        for workflow_id in sorted(workflows):
            await self.admit(workflow_id)

    async def close(self) -> None:
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def goes_on(run: runner_pb2.Run, checkpoint: runner_pb2.Checkpoint) -> bool:
    """Whether a queued run goes on from executor states (a fork, a resumed
    run), which are put back before it is driven, rather than from nothing."""
    return bool(run.parent_run_id or checkpoint.superstep or checkpoint.content.executor_states)


def started_update(run: runner_pb2.Run, epoch: int) -> tuple[RunUpdate, list[events_pb2.Event]]:
    """The commit that takes a queued run out of the queue, at the `epoch`
    its starter claimed it at."""
    event = ev.event(
        E.EVENT_KIND_STATUS_CHANGED,
        run.superstep,
        status=E.RUN_STATUS_RUNNING,
        message="started: a slot of the workflow's max_concurrent_runs freed",
    )
    return RunUpdate(E.RUN_STATUS_RUNNING, run.superstep, epoch=epoch), [event]
