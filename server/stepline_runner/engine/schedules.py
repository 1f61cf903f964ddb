"""`Schedules`: create, read, pause, resume and delete schedules, and the
scheduler that starts their runs.

Each schedule is one stored `Schedule` (its spec and where it stands: the next
fire time, the last run, a fire time waiting for it, its principal). A
namespace holds at most `--limit schedules`, the runner ten times that in
all (`Limits.schedules_in_all`), counted by the store as it inserts one
(across runners too). The scheduler keeps in memory only when each is due
(`Moments`, a heap, in schedule_moments.py), reads a schedule from the
store when its moment comes, decides with schedule_times.py, starts the run
through `StartRun` on behalf of the schedule's principal (if the API's auth
configuration still lets it start runs in the namespace) and only then
stores the schedule's progress. A runner killed in between starts the same
fire time again after its restart: the run id derives from the schedule and
the fire time, and a start with an existing id and the same input returns
that run, so no fire time ever starts two runs.

The lock orders the calls that change a stored schedule (create, pause,
resume, delete, a fire's record); it is not held while `StartRun` waits (for
executors that are away, say), so schedule calls never wait for a start. A
pause or resume that lands during a start keeps its effect: the fire's
record then adds only what the fire did (`progress`, in schedule_records.py,
with the other pure parts of a schedule's record).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from stepline.v1 import payload_pb2, runner_pb2

from ..namespaces import split_run_key
from ..statuses import is_terminal
from ..store import Store
from .errors import (
    FailedPrecondition,
    InvalidArgument,
    Reason,
    ResourceExhausted,
    SteplineError,
    Unavailable,
)
from .limits import Limits
from .new_runs import check_input
from .registry import WorkflowRegistry
from .schedule_checks import check_schedule_key, check_spec
from .schedule_moments import Moments
from .schedule_records import copy_of, not_found, progress, refusal, skipped, stamp
from .schedule_times import Action, decide, delay_of, due, run_id_of, seconds_of, trigger_of
from .validation import check_workflow_key, clamp_page_size

log = logging.getLogger(__name__)


class StartRun(Protocol):
    """Runner.start_run, as the scheduler calls it: `actor` is the principal
    on whose behalf the run starts (the schedule's)."""

    def __call__(
        self, workflow_id: str, payload: payload_pb2.Payload, run_id: str, *, actor: str
    ) -> Awaitable[runner_pb2.Run]: ...


# Whether the principal named may start runs in the namespace: "" if so, else
# why not (the API's auth configuration decides; everyone may without one).
MayStart = Callable[[str, str], str]

# The longest the scheduler sleeps without looking (a run that ended, say).
MAX_SLEEP = 60.0
# After a start that failed for now (executors away): the next try.
RETRY_PAUSE = 2.0
# Schedules read per page at start-up (a page also stops at a few MiB).
LOAD_PAGE = 500


class Schedules:
    def __init__(
        self,
        store: Store,
        workflows: WorkflowRegistry,
        start_run: StartRun,
        limits: Limits,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._workflows = workflows
        self._start_run = start_run
        self._limits = limits
        self._clock = clock
        self._moments = Moments()
        self._lock = asyncio.Lock()
        self._poked = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Runners sharing a database (Runner.share): only the leader fires,
        # and each tells the others of its changes (the leader rereads them).
        self.leading: Callable[[], bool] = lambda: True
        self.announce: Callable[[str], Awaitable[None]] | None = None
        # Set by the API from its auth configuration.
        self.may_start: MayStart = lambda principal, namespace: ""
        self._stale: set[str] = set()  # changed elsewhere; "" for every one

    # -- the calls

    async def create(self, spec: runner_pb2.ScheduleSpec, actor: str = "") -> runner_pb2.Schedule:
        """Store a new schedule; `actor` (the principal creating it) starts its runs."""
        now = self._clock()
        if spec.ByteSize() > self._limits.definition_bytes:
            raise InvalidArgument(
                f"the schedule is {spec.ByteSize()} bytes, its input included; at most "
                f"{self._limits.definition_bytes} (runner option --limit definition_bytes=N)",
                reason=Reason.INVALID_SCHEDULE,
                context={"field": "input"},
            )
        trigger = check_spec(spec, now)
        await self._workflows.stored(spec.workflow_id)  # NotFound if it is not registered
        await self._check_input(spec)
        async with self._lock:
            schedule = runner_pb2.Schedule(spec=spec, paused=spec.paused, principal=actor)
            schedule.created_at.CopyFrom(stamp(now))
            schedule.updated_at.CopyFrom(stamp(now))
            schedule.next_fire_time.FromSeconds(int(trigger.after(now)))
            limit, in_all = self._limits.schedules, self._limits.schedules_in_all
            held = await self._store.count_schedules(split_run_key(spec.schedule_id)[0])
            # Counted by a read first: calls at a cap cost reads, not the writer's time.
            full = held >= limit or await self._store.count_schedules() >= in_all
            if full or not await self._store.insert_schedule(schedule, limit, in_all):
                taken = await self._store.get_schedule(spec.schedule_id) is not None
                held = await self._store.count_schedules(split_run_key(spec.schedule_id)[0])
                raise refusal(spec.schedule_id, taken, held, self._limits)
            self._moments.remember(schedule)
        await self._announce(spec.schedule_id)
        self.poke()
        return schedule

    async def _check_input(self, spec: runner_pb2.ScheduleSpec) -> None:
        """Refuse an input the workflow's start executor does not take, as
        StartRun does: every fire would be skipped for it. With the executors
        out of reach it cannot be told: each fire checks it (StartRun)."""
        try:
            workflow = await self._workflows.get(spec.workflow_id)
        except FailedPrecondition as exc:
            log.info("schedule %s: input type not checked now: %s", spec.schedule_id, exc)
            return
        check_input(workflow, spec.input, "the schedule's input")

    async def get(self, schedule_id: str) -> runner_pb2.Schedule:
        check_schedule_key(schedule_id)
        schedule = await self._store.get_schedule(schedule_id)
        if schedule is None:
            raise not_found(schedule_id)
        return schedule

    async def list(
        self, workflow_id: str, page_size: int, page_token: str, namespace: str | None = None
    ) -> tuple[list[runner_pb2.Schedule], str]:
        """Schedules in creation order: of one workflow, of one namespace, if given."""
        check_workflow_key(workflow_id, "workflow_id", self._limits.id_length, required=False)
        size = clamp_page_size(page_size)
        return await self._store.list_schedules(workflow_id, size, page_token, namespace=namespace)

    async def pause(self, schedule_id: str, actor: str = "") -> runner_pb2.Schedule:
        async with self._lock:
            schedule = await self.get(schedule_id)
            if not schedule.paused:
                schedule.paused = True
                schedule.principal = actor
                schedule.ClearField("waiting_fire_time")
                await self._save(schedule)
                self._moments.remember(schedule)
        await self._announce(schedule_id)
        return schedule

    async def resume(self, schedule_id: str, actor: str = "") -> runner_pb2.Schedule:
        """Go on from the next fire time after now: the pause is no downtime.
        `actor` (the principal resuming it) starts its runs from now on."""
        async with self._lock:
            schedule = await self.get(schedule_id)
            if schedule.paused:
                schedule.paused = False
                schedule.principal = actor
                after = trigger_of(schedule.spec).after(self._clock())
                schedule.next_fire_time.FromSeconds(int(after))
                await self._save(schedule)
                self._moments.remember(schedule)
        await self._announce(schedule_id)
        self.poke()
        return schedule

    async def delete(self, schedule_id: str) -> None:
        async with self._lock:
            await self.get(schedule_id)  # NotFound if it is not there
            await self._store.delete_schedule(schedule_id)
            self._moments.forget(schedule_id)
        await self._announce(schedule_id)

    # -- the scheduler

    async def start(self) -> None:
        """Note when each stored schedule is due and start firing them."""
        await self._load_all()
        self._task = asyncio.create_task(self._loop(), name="scheduler")

    async def _load_all(self) -> None:
        token = ""
        while True:  # a page at a time: the inputs may weigh a MiB each
            page, token = await self._store.list_schedules("", LOAD_PAGE, token)
            for schedule in page:
                self._moments.remember(schedule)
            if not token:
                break

    def poke(self) -> None:
        """Look at the schedules now (one was changed, or a run ended)."""
        self._poked.set()

    def lead(self) -> None:
        """This runner fires the schedules from now on (runners sharing a
        database): what it holds of them may be stale, reread them all."""
        self._stale.add("")
        self.poke()

    def changed_elsewhere(self, schedule_id: str) -> None:
        """Another runner changed the schedule ("": maybe any): reread it
        before the next look. Only the leader looks (`lead` rereads them all)."""
        if self.leading():
            self._stale.add(schedule_id)
            self.poke()

    async def _reread(self) -> None:
        """Bring what changed elsewhere up to date from the store."""
        async with self._lock:
            stale, self._stale = self._stale, set()
            if "" in stale:
                for schedule_id in self._moments.ids():
                    self._moments.forget(schedule_id)
                await self._load_all()
                return
            for schedule_id in stale:
                schedule = await self._store.get_schedule(schedule_id)
                self._moments.forget(schedule_id)
                if schedule is not None:
                    self._moments.remember(schedule)

    async def _announce(self, schedule_id: str) -> None:
        if self.announce is not None:
            try:
                await self.announce(schedule_id)
            except Exception:  # the leader rereads every schedule when it changes
                log.exception("schedule %s: telling the other runners failed", schedule_id)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            self._poked.clear()
            try:
                wake = await self.tick(self._clock())
            except Exception:  # the store out of reach, say: look again later
                log.exception("the scheduler failed; it looks again in %g s", RETRY_PAUSE)
                wake = self._clock() + RETRY_PAUSE
            pause = min(max(wake - self._clock(), 0.0), MAX_SLEEP)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):  # until the next fire time, or a poke
                    await self._poked.wait()

    async def tick(self, now: float) -> float:
        """Act on every schedule whose moment came by `now`; when to look again."""
        if not self.leading():  # another runner fires them; a poke says when this one leads
            return now + MAX_SLEEP
        if self._stale:
            await self._reread()
        for schedule_id in self._moments.due(now):
            self._moments.retried(schedule_id)  # a start failing again sets it again
            try:
                await self._fire(schedule_id, now)
            except Exception:  # the store out of reach, say: the others go on
                log.exception("schedule %s: the scheduler failed on it", schedule_id)
                self._moments.retry(schedule_id, now + RETRY_PAUSE)
        return self._moments.next_wake(default=now + MAX_SLEEP)

    async def _fire(self, schedule_id: str, now: float) -> None:
        """Read a due schedule, start its runs (the lock not held), then
        record what it did, on top of a pause or resume that came meanwhile."""
        read = await self._store.get_schedule(schedule_id)
        if read is None or read.paused:  # deleted or paused by another runner, say
            async with self._lock:
                current = await self._store.get_schedule(schedule_id)
                if current is None:
                    self._moments.forget(schedule_id)
                else:
                    self._moments.remember(current)
            return
        fired = copy_of(read)
        if not await self._tick(fired, now):
            return
        async with self._lock:
            current = await self._store.get_schedule(schedule_id)
            if current is None or current.created_at != read.created_at:
                # Deleted while its run started (and maybe created anew): the run
                # stays, and a new schedule of the id keeps nothing of the old one.
                self._moments.forget(schedule_id)
                if current is not None:
                    self._moments.remember(current)
                return
            recorded = progress(read, fired, current)
            await self._save(recorded)
            self._moments.remember(recorded)

    async def _tick(self, schedule: runner_pb2.Schedule, now: float) -> bool:
        """Act on a due schedule: start its runs, move it on; whether it changed."""
        spec = schedule.spec
        going = await self._going(schedule.last_run_id)
        changed = False
        if schedule.HasField("waiting_fire_time") and not going:
            fire = float(schedule.waiting_fire_time.seconds)
            started = await self._start(schedule, fire, now)
            if started is None:
                return False  # try again soon, still waiting
            schedule.ClearField("waiting_fire_time")
            going, changed = started, True
        jitter = seconds_of(spec.jitter)
        trigger = trigger_of(spec)
        next_fire = float(schedule.next_fire_time.seconds)
        found = due(trigger, next_fire, now, lambda f: delay_of(spec.schedule_id, f, jitter))
        if found is not None:
            waiting = schedule.HasField("waiting_fire_time")
            action, why = decide(found.late, spec.catch_up, spec.overlap, going, waiting)
            if action is Action.START:
                if await self._start(schedule, found.fire, now) is None:
                    return changed  # the same fire time again soon
            elif action is Action.WAIT:
                schedule.waiting_fire_time.FromSeconds(int(found.fire))
            else:
                skipped(schedule, found.fire, why)
            schedule.next_fire_time.FromSeconds(int(found.next_fire))
            changed = True
        return changed

    async def _start(self, schedule: runner_pb2.Schedule, fire: float, now: float) -> bool | None:
        """Start the fire time's run: True if it did, False if it skipped the
        fire time (a start refused for good), None to try again soon."""
        spec = schedule.spec
        run_id = run_id_of(spec.schedule_id, fire)
        if refused := self._refused(schedule):
            log.warning("schedule %s: run %s not started: %s", spec.schedule_id, run_id, refused)
            skipped(schedule, fire, f"the start of run {run_id} was refused: {refused}")
            return False
        try:
            run = await self._start_run(
                spec.workflow_id, spec.input, run_id, actor=schedule.principal
            )
        except (FailedPrecondition, Unavailable, ResourceExhausted) as exc:
            log.warning("schedule %s: cannot start run %s now: %s", spec.schedule_id, run_id, exc)
            self._moments.retry(spec.schedule_id, now + RETRY_PAUSE)
            return None
        except SteplineError as exc:
            log.warning("schedule %s: run %s refused: %s", spec.schedule_id, run_id, exc)
            skipped(schedule, fire, f"the start of run {run_id} was refused: {exc}")
            return False
        self._moments.retried(spec.schedule_id)
        log.info("schedule %s: started run %s", spec.schedule_id, run.run_id)
        schedule.last_fire_time.FromSeconds(int(fire))
        schedule.last_run_id = run.run_id
        schedule.runs_started += 1
        return True

    def _refused(self, schedule: runner_pb2.Schedule) -> str:
        """Why the schedule's principal may not start its runs now ("": it may);
        one naming none (created without auth) as a caller without credentials."""
        namespace = split_run_key(schedule.spec.schedule_id)[0]
        return self.may_start(schedule.principal, namespace)

    async def _going(self, run_id: str) -> bool:
        """Whether the schedule's last run has not ended (queued ones included)."""
        if not run_id:
            return False
        run = await self._store.get_run(run_id)
        return run is not None and not is_terminal(run.status)

    async def _save(self, schedule: runner_pb2.Schedule) -> None:
        schedule.updated_at.CopyFrom(stamp(self._clock()))
        await self._store.update_schedule(schedule)
