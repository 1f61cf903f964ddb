"""Continuing a run from a checkpoint: the same run from its latest one, or a
fork, a new run whose parent is the checkpoint."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from stepline.v1 import events_pb2, runner_pb2

from ..namespaces import sibling_run_key
from ..statuses import QUEUED, is_terminal
from ..store import RunUpdate
from . import events as ev
from .admission import Admission, queued_event
from .errors import AlreadyExists, FailedPrecondition, NotFound, Reason
from .late_calls import refuse_resume
from .new_runs import forked
from .registry import Workflow
from .run_parts import RunParts
from .state import RunState
from .validation import check_run_key

E = events_pb2


@dataclass(eq=False)
class Resumer(RunParts):
    admission: Admission

    async def resume(
        self, checkpoint: runner_pb2.Checkpoint, source: runner_pb2.Run, actor: str = ""
    ) -> runner_pb2.Run:
        """Restore run `source` to its latest `checkpoint` and drive it on; one
        that had ended takes a slot of its workflow again, or queues. The run
        as resumed, read before its driver could go on."""
        run_id = source.run_id
        driver = self.runs.driver(run_id)
        if driver is None or is_terminal(driver.status):  # else its calls are its driver's
            await self.runs.late.settled(run_id)  # not under the locks: seconds, maybe
        # The admission lock first, as StartRun takes them.
        async with self.admission.lock(source.workflow_id), self.runs.lock(run_id):
            if self.runs.is_active(run_id) or await self.runs.driven_elsewhere(run_id):
                raise FailedPrecondition(
                    f"run {run_id!r} is active; cancel it first, or fork the checkpoint",
                    reason=Reason.RUN_ACTIVE,
                    context={"run_id": run_id},
                )
            refuse_resume(self.runs.late, run_id)
            stored = await self.store.get_run(run_id)
            if stored is None:  # deleted meanwhile
                raise NotFound(
                    f"no run {run_id!r}", reason=Reason.RUN_NOT_FOUND, context={"run_id": run_id}
                )
            source = stored
            # A move may have landed meanwhile.
            workflow = await self.workflows.get(source.workflow_id, source.workflow_version)
            if source.status == E.RUN_STATUS_QUEUED:
                raise FailedPrecondition(
                    f"run {run_id!r} is queued and starts when a slot of its workflow frees; "
                    "cancel it, or fork its checkpoint",
                    reason=Reason.RUN_QUEUED,
                    context={"run_id": run_id},
                )
            if source.status == E.RUN_STATUS_COMPLETED:
                raise FailedPrecondition(
                    f"run {run_id!r} completed; fork one of its checkpoints to run it again",
                    reason=Reason.RUN_COMPLETED,
                    context={"run_id": run_id},
                )
            state = RunState.from_checkpoint(run_id, workflow.graph, checkpoint)
            if is_terminal(source.status):  # it takes a slot again
                limit = await self.admission.queue_limit(source.workflow_id)
                if limit:
                    await self._queue(checkpoint, source, state.superstep, limit, actor)
                    return await self._read(run_id)
            epoch = await self.runs.claim(run_id)
            saved = checkpoint.content.executor_states
            incarnations = await self.runs.restore(state, saved, epoch)
            events = [resumed_event(checkpoint, state.superstep)]
            status = E.RUN_STATUS_RUNNING
            if source.status != status:
                events.append(ev.status_changed(status, state.superstep))
            update = RunUpdate(status, state.superstep, epoch=epoch)
            await self.log.append(run_id, source.workflow_id, update, ev.by(actor, events))
            resumed = await self._read(run_id)
            self.runs.launch(
                state, workflow, source.checkpoint_policy, incarnations=incarnations, epoch=epoch
            )
        return resumed

    async def _queue(
        self,
        checkpoint: runner_pb2.Checkpoint,
        source: runner_pb2.Run,
        superstep: int,
        limit: int,
        actor: str,
    ) -> None:
        """Queue an ended run that is resumed while its workflow's slots are
        taken; admission restores its executors when it leaves the queue."""
        # Fences out a last EndRun of whoever ended it.
        epoch = await self.runs.claim(source.run_id)
        events = [resumed_event(checkpoint, superstep), queued_event(limit)]
        update = RunUpdate(QUEUED, superstep, epoch=epoch)
        await self.log.append(source.run_id, source.workflow_id, update, ev.by(actor, events))

    async def fork(
        self,
        checkpoint: runner_pb2.Checkpoint,
        source: runner_pb2.Run,
        workflow: Workflow,
        new_run_id: str,
        actor: str = "",
    ) -> runner_pb2.Run:
        """A new run from `checkpoint` of `source`, driven at once (or
        queued); the run as started, read before its driver could go on."""
        if new_run_id:
            check_run_key(new_run_id, "new_run_id")
        # A fork lives in its source's namespace.
        run_id = new_run_id or sibling_run_key(source.run_id, uuid.uuid4().hex)
        # Like a start: counting the workflow's runs and storing this one are one step.
        async with self.admission.lock(source.workflow_id), self.runs.lock(run_id):
            if await self.store.get_run(run_id) is not None:
                raise AlreadyExists(
                    f"run {run_id!r} exists; choose another new_run_id",
                    reason=Reason.RUN_EXISTS,
                    context={"run_id": run_id},
                )
            new = forked(run_id, workflow, checkpoint, source)
            if await self.admission.hold_back(new, workflow.graph.definition):
                # Its executors are restored when it leaves the queue.
                await self.log.create(new.run, "", new.checkpoint, ev.by(actor, new.events))
                return await self._read(run_id)
            saved = checkpoint.content.executor_states
            # A new run's epoch is 1: its creator's.
            incarnations = await self.runs.restore(new.state, saved, 1)
            await self.log.create(new.run, "", new.checkpoint, ev.by(actor, new.events))
            started = await self._read(run_id)
            self.runs.launch(
                new.state, workflow, source.checkpoint_policy, incarnations=incarnations, epoch=1
            )
        return started

    async def _read(self, run_id: str) -> runner_pb2.Run:
        """The run just written (another runner may have deleted it since)."""
        run = await self.store.get_run(run_id)
        if run is None:
            raise NotFound(
                f"no run {run_id!r}", reason=Reason.RUN_NOT_FOUND, context={"run_id": run_id}
            )
        return run


def resumed_event(checkpoint: runner_pb2.Checkpoint, superstep: int) -> events_pb2.Event:
    return ev.event(E.EVENT_KIND_RUN_RESUMED, superstep, checkpoint_id=checkpoint.checkpoint_id)
