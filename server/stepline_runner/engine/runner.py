"""`Runner`: the engine's front door. Starts, resumes, cancels and watches
runs; the gRPC layer translates its calls and errors, nothing more."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence

from google.protobuf.timestamp_pb2 import Timestamp

from stepline.v1 import events_pb2, payload_pb2, runner_pb2, workflow_pb2

from ..statuses import is_terminal
from ..store import RunDeletion, Store, StoredWorkflow
from . import events as ev
from .admission import Admission
from .allowlist import AllowList
from .answers import Answers
from .cancels import Canceller
from .conditions import ConditionEvaluator
from .errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Reason
from .follower import Follower, FollowSource
from .graph import check_policy
from .hub import EventHub
from .leases import LeaseKeeper
from .limits import Limits
from .moves import Moved, RunMover
from .new_runs import check_input, check_signature, started
from .observe import NO_OBSERVER, Observer
from .ports import ExecutorPort
from .reads import Reads
from .recovery import RetryPolicy
from .registry import WorkflowRegistry
from .relay import Relay
from .replies import Batch
from .resumes import Resumer
from .run_filter import run_filter
from .runlog import RunLog
from .schedules import Schedules
from .shared import SharedStore
from .supervisor import Supervisor
from .validation import (
    check_payload,
    check_run_key,
    check_workflow_key,
    clamp_page_size,
)
from .wakeups import Waker
from .watch import follow_run
from .watchers import StreamCounts

E = events_pb2


class Runner:
    def __init__(
        self,
        store: Store,
        executors: ExecutorPort,
        hub: EventHub | None = None,
        retry: RetryPolicy | None = None,
        limits: Limits | None = None,
        observer: Observer = NO_OBSERVER,
        allowed: AllowList | None = None,
    ) -> None:
        """`allowed`: the executor endpoints it may dial (None: any; the gRPC
        server's default is loopback only)."""
        self.store = store
        self.executors = executors
        self.limits = limits or Limits()
        self.hub = hub or EventHub(subscriber_bytes=self.limits.watch_buffer_bytes)
        self.retry = retry or RetryPolicy()
        self.conditions = ConditionEvaluator(self.limits.cel_budget)
        self.workflows = WorkflowRegistry(store, executors, self.conditions, self.limits, allowed)
        self.log = RunLog(store, self.hub, observer)
        self.runs = Supervisor(
            store, executors, self.log, self.workflows, self.retry, self.conditions
        )
        self.mover = RunMover(store, self.runs, self.workflows, self.log)
        self.leases: LeaseKeeper | None = None
        self.follower: Follower | None = None
        self.admission = Admission(store, self.runs, self.workflows, self.log)
        self.workflows.on_unsure = self.admission.limit_changed  # it may have landed
        self.resumer = Resumer(store, self.runs, self.workflows, self.log, self.admission)
        self.reads = Reads(store, self.limits)
        self.streams = StreamCounts(self.limits.watchers)  # per principal, tenancy.py
        self.cancels = Canceller(self.runs, self.workflows, self.log, self.reads)
        self.answers = Answers(store, self.runs, self.workflows, self.log, self.reads, self.limits)
        self.schedules = Schedules(store, self.workflows, self.start_run, self.limits)
        self.log.on_end = self._run_ended
        self.log.on_unknown = self.runs.recheck
        self.waker = Waker(store, self.runs, self.workflows, self.log)
        self.runs.timers.start(self.waker.wake)

    def _run_ended(self, workflow_id: str) -> None:
        # A slot of the workflow freed; a schedule may wait for that run too.
        self.admission.slot_freed(workflow_id)
        self.schedules.poke()

    # -- workflows

    async def register_workflow(
        self, definition: workflow_pb2.WorkflowDefinition
    ) -> tuple[str, int]:
        """Validate and store a definition as the workflow's next version;
        return its graph signature and version."""
        workflow = await self.workflows.register(definition)
        # A raised (or removed) max_concurrent_runs frees slots for queued runs now.
        self.admission.limit_changed(workflow.graph.workflow_id)
        return workflow.graph.signature, workflow.version

    async def get_workflow(self, workflow_id: str, version: int = 0) -> StoredWorkflow:
        """A stored version (0: the latest); no executor is asked."""
        return await self.workflows.stored(workflow_id, version)

    async def move_runs(
        self,
        workflow_id: str,
        to_version: int,
        run_ids: Sequence[str],
        all_runs: bool,
        actor: str = "",
    ) -> Moved:
        """Pin runs to another version with their graph (new endpoints)."""
        return await self.mover.move(workflow_id, to_version, run_ids, all_runs, actor)

    async def list_workflows(
        self, page_size: int, page_token: str, namespace: str | None = None
    ) -> tuple[list[runner_pb2.WorkflowSummary], str]:
        """Registered workflows; of one namespace if given."""
        size = clamp_page_size(page_size)
        return await self.store.list_workflows(size, page_token, namespace=namespace)

    # -- runs

    async def start_run(
        self,
        workflow_id: str,
        payload: payload_pb2.Payload,
        run_id: str = "",
        policy: workflow_pb2.CheckpointPolicy | None = None,
        actor: str = "",
    ) -> runner_pb2.Run:
        """Start a run; `policy` overrides the workflow's checkpoint policy;
        `actor` is the principal that starts it."""
        self.runs.check_open()
        if policy is not None:
            check_policy(policy, "checkpoint_policy")
        check_payload(payload, "input")
        if run_id:
            check_run_key(run_id)
        seen = self.admission.seen(workflow_id)
        workflow = await self.workflows.get(workflow_id)
        check_input(workflow, payload)
        input_hash = hashlib.sha256(payload.SerializeToString(deterministic=True)).hexdigest()
        # A run id the caller chose may be taken; one made here is new.
        chosen = bool(run_id)
        run_id = run_id or uuid.uuid4().hex
        # Counting the workflow's runs and storing this one are one step.
        limited = workflow.graph.definition.max_concurrent_runs > 0
        async with self.admission.lock(workflow_id, limited), self.runs.lock(run_id):
            existing = await self.store.get_run(run_id) if chosen else None
            if existing is not None:
                if (
                    existing.workflow_id == workflow_id
                    and await self.store.get_run_input_hash(run_id) == input_hash
                ):
                    return existing
                raise AlreadyExists(
                    f"run {run_id!r} exists with another workflow or input; choose another run_id",
                    reason=Reason.RUN_EXISTS,
                    context={"run_id": run_id},
                )
            new = started(run_id, workflow, payload, policy)
            queued = await self.admission.hold_back(new, workflow.graph.definition)
            await self.log.create(new.run, input_hash, new.checkpoint, ev.by(actor, new.events))
            # Without the lock, a limit registered meanwhile counts this run too.
            unsure = not limited and await self.admission.limit_came(workflow_id, seen)

            async def launch() -> None:
                if await self.runs.keeps(run_id):
                    self.runs.launch(new.state, workflow, new.run.checkpoint_policy, epoch=1)

            # Read before the launch: its driver may commit a superstep before a later read.
            run = await self.get_run(run_id)
            if not queued and not unsure:
                await launch()
        if unsure:
            return await self.admission.settle(workflow_id, run_id, launch) or run
        return run

    async def get_run(self, run_id: str) -> runner_pb2.Run:
        return await self.reads.run(run_id)

    async def list_runs(
        self,
        workflow_id: str,
        page_size: int,
        page_token: str,
        statuses: Sequence[int] = (),
        created_after: Timestamp | None = None,
        created_before: Timestamp | None = None,
        namespace: str | None = None,
    ) -> tuple[list[runner_pb2.Run], str]:
        """Runs newest first: of one workflow if given, in one of `statuses` if
        any, created in [created_after, created_before) where those are set."""
        size = clamp_page_size(page_size)
        check_workflow_key(workflow_id, "workflow_id", self.limits.id_length, required=False)
        where = run_filter(statuses, created_after, created_before, namespace)
        return await self.store.list_runs(workflow_id, size, page_token, where)

    async def delete_run(self, run_id: str) -> RunDeletion:
        """Delete a run that ended, with all it stored; refused while it has not."""
        if not run_id:
            raise InvalidArgument(
                "run_id is required", reason=Reason.MISSING_FIELD, context={"field": "run_id"}
            )
        async with self.runs.lock(run_id):
            run = await self.store.get_run(run_id)
            if run is None:
                raise NotFound(
                    f"no run {run_id[:128]!r}",
                    reason=Reason.RUN_NOT_FOUND,
                    context={"run_id": run_id[:128]},
                )
            if self.runs.is_active(run_id) or not is_terminal(run.status):
                if is_terminal(run.status):  # ended; its executors are being released
                    message = f"run {run_id!r} is finishing; delete it once it has"
                else:
                    status = E.RunStatus.Name(run.status)
                    message = f"run {run_id!r} has not ended ({status}); cancel it, then delete it"
                raise FailedPrecondition(
                    message,
                    reason=Reason.RUN_ACTIVE,
                    context={"run_id": run_id},
                )
            deleted = await self.store.delete_run(run_id)
        # Watchers still reading the run's stored events learn it is gone.
        self.log.deleted(run_id)
        return deleted

    async def cancel_run(self, run_id: str, actor: str = "") -> runner_pb2.Run:
        return await self.cancels.cancel(run_id, actor)

    async def resume(
        self, checkpoint_id: str, fork: bool = False, new_run_id: str = "", actor: str = ""
    ) -> runner_pb2.Run:
        """Continue from a checkpoint: the same run from its latest, else a
        fork; the run as resumed (or queued)."""
        self.runs.check_open()
        checkpoint = await self.reads.checkpoint(checkpoint_id, include_content=True)
        source = await self.get_run(checkpoint.run_id)
        forking = fork or bool(new_run_id) or checkpoint_id != source.latest_checkpoint_id
        # A fork is a new run: like a start, it takes the latest version (of
        # the same graph); the run itself goes on with its own.
        version = 0 if forking else source.workflow_version
        workflow = await self.workflows.get(source.workflow_id, version)
        check_signature(checkpoint, workflow)
        if forking:
            return await self.resumer.fork(checkpoint, source, workflow, new_run_id, actor)
        return await self.resumer.resume(checkpoint, source, actor)

    # -- requests for input

    async def send_responses(
        self, run_id: str, responses: Mapping[str, payload_pb2.Payload], actor: str = ""
    ) -> runner_pb2.Run:
        """Answer open requests of a run that waits for input; it goes on at once."""
        return await self.answers.send(run_id, responses, actor)

    async def waiting_runs(self) -> list[tuple[runner_pb2.Run, list[payload_pb2.InputRequest]]]:
        """Every run with requests for input still open, and those requests."""
        return await self.reads.waiting_runs()

    async def pending_requests(self, run_id: str) -> list[payload_pb2.InputRequest]:
        """The run's open requests for input, oldest first."""
        return await self.reads.pending_requests(run_id)

    # -- checkpoints

    async def list_checkpoints(
        self, run_id: str, page_size: int, page_token: str
    ) -> tuple[list[runner_pb2.Checkpoint], str]:
        return await self.reads.checkpoints(run_id, page_size, page_token)

    async def get_checkpoint(
        self, checkpoint_id: str, include_content: bool
    ) -> runner_pb2.Checkpoint:
        return await self.reads.checkpoint(checkpoint_id, include_content)

    async def delete_checkpoint(self, checkpoint_id: str) -> int:
        """Delete a checkpoint that is not its run's latest; return blobs removed."""
        return await self.reads.delete_checkpoint(checkpoint_id)

    # -- events

    async def watch(
        self,
        run_id: str,
        after_sequence: int = 0,
        kinds: Iterable[E.EventKind] = (),
        follow_after_end: bool = False,
    ) -> AsyncIterator[Batch]:
        """The run's events after `after_sequence`, stored then live, in batches
        of consecutive events; until the run ends unless `follow_after_end`."""
        run = await self.get_run(run_id)
        if after_sequence < 0:
            raise InvalidArgument(
                "after_sequence must be 0 or more", reason=Reason.INVALID_AFTER_SEQUENCE
            )
        async for batch in follow_run(
            self.store, self.hub, run, after_sequence, frozenset(kinds), follow_after_end
        ):
            yield batch

    async def watch_all(
        self,
        workflow_id: str = "",
        kinds: Iterable[E.EventKind] = (),
        namespace: str | None = None,
    ) -> AsyncIterator[Batch]:
        """Live events of every run, or of one workflow's runs (or one
        namespace's), in batches. The first is empty, once subscribed: the
        events committed from then on follow (none from before)."""
        if workflow_id:
            check_workflow_key(workflow_id, "workflow_id", self.limits.id_length)
            await self.workflows.definition(workflow_id)
        subscription = self.hub.subscribe_all(workflow_id, frozenset(kinds), namespace)
        yield Batch((), b"")
        async for batch in subscription.batches():
            yield batch

    # -- lifecycle

    async def resume_unfinished(self) -> list[str]:
        """After a restart: go on with every run that was running, from its
        latest checkpoint, without a human. Returns their ids."""
        resumed = await self.runs.resume_unfinished()
        await self.admission.admit_all()  # a run may have ended just before the stop
        return resumed

    def _lead(self) -> None:
        # This runner fires the schedules now, and starts the runs that queued
        # while the runner that would have started them stopped.
        self.schedules.lead()
        self.admission.admit_all_later()

    def share(self, store: SharedStore, max_runs: int | None = None) -> None:
        """Share the database with other runners: from now on this runner
        drives the runs it leases (at most `max_runs` at once), and takes over
        those whose lease ran out (instead of `resume_unfinished`), see leases.py."""
        self.runs.shared = store
        self.workflows.share()
        self.admission.share()
        self.leases = LeaseKeeper(
            store,
            self.runs,
            self.hub,
            max_runs=max_runs,
            on_lead=self._lead,
            on_schedule=self.schedules.changed_elsewhere,
        )
        self.schedules.leading = self.leases.leading
        self.schedules.announce = store.schedule_changed
        self.leases.start()

    def follow(self, store: FollowSource, on_lost: Callable[[], Awaitable[None]]) -> None:
        """Follow a database another runner owns and drives (follower.py): serve
        its reads and watchers, drive nothing (nor resume, fire, or sweep);
        `on_lost` once the file cannot be followed on."""
        # A run's end here is read from the store, as with runners sharing one.
        self.hub.relay = Relay(self.store, self.hub)
        self.follower = Follower(store, self.hub, on_lost=on_lost)
        self.follower.start()

    async def close(self) -> None:
        """Stop driving runs. They stay as stored, to be resumed on restart."""
        driven = self.runs.active_ids()
        if self.follower is not None:
            await self.follower.stop()
        if self.leases is not None:
            await self.leases.stop()
        await self.schedules.close()
        await self.admission.close()
        await self.runs.close()
        await self.cancels.settle()  # those whose clients gave up, past the stops above
        if self.leases is not None:
            # A runner that stops cleanly hands its runs on at once.
            await self.leases.release(driven, leaving=True)
        await self.conditions.close()
