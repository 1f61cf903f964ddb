"""`Tenant`: the runner as one namespace sees it.

Callers name things by their namespace's ids; the `Runner` drives them under
keys unique across namespaces (see stepline_runner.namespaces). A tenant
checks every id it is given (strictly: an id that held a key's separator
could name another namespace's object), turns it into its key, and turns the
keys in what comes back (runs, events, checkpoints, workflows, error
messages) into ids again. What belongs to another namespace does not exist
for it: a checkpoint id of another namespace's run is NOT_FOUND with the
words of a missing one, lists and streams leave the others out, and an id
another namespace took is free here (a different key). The ids and keys
themselves are `Scope`'s.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence

from google.protobuf.timestamp_pb2 import Timestamp

from stepline.v1 import events_pb2, payload_pb2, runner_pb2, workflow_pb2

from ..store import RunDeletion, StoredWorkflow
from .errors import NotFound, Reason, SteplineError
from .moves import Moved
from .replies import Batch
from .request_pages import request_page
from .runner import Runner
from .scope import Scope, valid_run_id
from .validation import short

E = events_pb2


class Tenant(Scope):
    """Runner calls in one namespace, on behalf of `actor` (a principal's
    name, recorded on the events of control calls)."""

    def __init__(self, runner: Runner, namespace: str, actor: str = "") -> None:
        super().__init__(namespace, runner.limits.id_length)
        self._runner = runner
        self._actor = actor

    async def _checkpoint_here(self, checkpoint_id: str) -> None:
        """NOT_FOUND, as for a missing one, unless the checkpoint is this namespace's."""
        checkpoint = await self._runner.get_checkpoint(checkpoint_id, include_content=False)
        if not self._mine(checkpoint.run_id):
            raise NotFound(
                f"no checkpoint {short(checkpoint_id)}",
                reason=Reason.CHECKPOINT_NOT_FOUND,
                context={"checkpoint_id": checkpoint_id},
            )

    # -- workflows

    async def register_workflow(
        self, definition: workflow_pb2.WorkflowDefinition
    ) -> tuple[str, int]:
        try:
            scoped = workflow_pb2.WorkflowDefinition()
            scoped.CopyFrom(definition)
            scoped.workflow_id = self._workflow(definition.workflow_id)
            return await self._runner.register_workflow(scoped)
        except SteplineError as exc:
            raise self._localized(exc) from None

    async def get_workflow(self, workflow_id: str, version: int = 0) -> StoredWorkflow:
        try:
            stored = await self._runner.get_workflow(self._workflow(workflow_id), version)
        except SteplineError as exc:
            raise self._localized(exc) from None
        if self._local:
            return stored
        definition = workflow_pb2.WorkflowDefinition()
        definition.CopyFrom(stored.definition)
        definition.workflow_id = self._workflow_id(definition.workflow_id)
        return StoredWorkflow(definition, stored.signature, stored.version)

    async def list_workflows(
        self, page_size: int, page_token: str
    ) -> tuple[list[runner_pb2.WorkflowSummary], str]:
        summaries, token = await self._runner.list_workflows(
            page_size, page_token, namespace=self.namespace
        )
        for summary in summaries:
            summary.workflow_id = self._workflow_id(summary.workflow_id)
        return summaries, token

    async def move_runs(
        self, workflow_id: str, to_version: int, run_ids: Sequence[str], all_runs: bool
    ) -> Moved:
        try:
            workflow = self._workflow(workflow_id)
            keys = [self._run(r, "run_ids") for r in run_ids]
            moved = await self._runner.move_runs(workflow, to_version, keys, all_runs, self._actor)
        except SteplineError as exc:
            raise self._localized(exc) from None
        return Moved(
            [self._run_id(k) for k in moved.moved], [self._run_id(k) for k in moved.skipped]
        )

    # -- runs

    async def start_run(
        self,
        workflow_id: str,
        payload: payload_pb2.Payload,
        run_id: str = "",
        policy: workflow_pb2.CheckpointPolicy | None = None,
    ) -> runner_pb2.Run:
        try:
            key = self._run(run_id or uuid.uuid4().hex)
            workflow = self._workflow(workflow_id)
            run = await self._runner.start_run(workflow, payload, key, policy, self._actor)
        except SteplineError as exc:
            raise self._localized(exc) from None
        return self._out_run(run)

    async def get_run(self, run_id: str) -> runner_pb2.Run:
        try:
            return self._out_run(await self._runner.get_run(self._run(run_id)))
        except SteplineError as exc:
            raise self._localized(exc) from None

    async def list_runs(
        self,
        workflow_id: str,
        page_size: int,
        page_token: str,
        statuses: Sequence[int] = (),
        created_after: Timestamp | None = None,
        created_before: Timestamp | None = None,
    ) -> tuple[list[runner_pb2.Run], str]:
        try:
            runs, token = await self._runner.list_runs(
                self._workflow(workflow_id, required=False),
                page_size,
                page_token,
                statuses,
                created_after,
                created_before,
                namespace=self.namespace,
            )
        except SteplineError as exc:
            raise self._localized(exc) from None
        return [self._out_run(r) for r in runs], token

    async def delete_run(self, run_id: str) -> RunDeletion:
        try:
            if run_id and not valid_run_id(run_id):
                # As the runner answers for an id no run could have.
                raise NotFound(
                    f"no run {run_id[:128]!r}",
                    reason=Reason.RUN_NOT_FOUND,
                    context={"run_id": run_id[:128]},
                )
            return await self._runner.delete_run(self._run(run_id) if run_id else "")
        except SteplineError as exc:
            raise self._localized(exc) from None

    async def cancel_run(self, run_id: str) -> runner_pb2.Run:
        try:
            return self._out_run(await self._runner.cancel_run(self._run(run_id), self._actor))
        except SteplineError as exc:
            raise self._localized(exc) from None

    async def resume(
        self, checkpoint_id: str, fork: bool = False, new_run_id: str = ""
    ) -> runner_pb2.Run:
        try:
            await self._checkpoint_here(checkpoint_id)
            new_key = self._run(new_run_id, "new_run_id") if new_run_id else ""
            run = await self._runner.resume(checkpoint_id, fork, new_key, self._actor)
        except SteplineError as exc:
            raise self._localized(exc) from None
        return self._out_run(run)

    # -- requests for input

    async def send_responses(
        self, run_id: str, responses: Mapping[str, payload_pb2.Payload]
    ) -> runner_pb2.Run:
        try:
            run = await self._runner.send_responses(self._run(run_id), responses, self._actor)
        except SteplineError as exc:
            raise self._localized(exc) from None
        return self._out_run(run)

    async def pending_requests(
        self, run_id: str, page_size: int = 0, page_token: str = ""
    ) -> tuple[list[payload_pb2.InputRequest], str]:
        """A page of the run's open requests, oldest first, and the next page's token."""
        try:
            requests = await self._runner.pending_requests(self._run(run_id))
            return request_page(requests, page_size, page_token)
        except SteplineError as exc:
            raise self._localized(exc) from None

    # -- checkpoints

    async def list_checkpoints(
        self, run_id: str, page_size: int, page_token: str
    ) -> tuple[list[runner_pb2.Checkpoint], str]:
        try:
            checkpoints, token = await self._runner.list_checkpoints(
                self._run(run_id), page_size, page_token
            )
        except SteplineError as exc:
            raise self._localized(exc) from None
        return [self._out_checkpoint(c) for c in checkpoints], token

    async def get_checkpoint(
        self, checkpoint_id: str, include_content: bool
    ) -> runner_pb2.Checkpoint:
        try:
            await self._checkpoint_here(checkpoint_id)
            checkpoint = await self._runner.get_checkpoint(checkpoint_id, include_content)
        except SteplineError as exc:
            raise self._localized(exc) from None
        return self._out_checkpoint(checkpoint)

    async def delete_checkpoint(self, checkpoint_id: str) -> int:
        try:
            await self._checkpoint_here(checkpoint_id)
            return await self._runner.delete_checkpoint(checkpoint_id)
        except SteplineError as exc:
            raise self._localized(exc) from None

    # -- events

    async def watch(
        self,
        run_id: str,
        after_sequence: int = 0,
        kinds: Iterable[E.EventKind] = (),
        follow_after_end: bool = False,
    ) -> AsyncIterator[Batch]:
        try:
            key = self._run(run_id)
            with self._runner.streams.held(self._actor):
                batches = self._runner.watch(key, after_sequence, kinds, follow_after_end)
                async for batch in batches:
                    yield batch if self._local else batch.local()
        except SteplineError as exc:
            raise self._localized(exc) from None

    async def watch_all(
        self, workflow_id: str = "", kinds: Iterable[E.EventKind] = ()
    ) -> AsyncIterator[Batch]:
        try:
            workflow = self._workflow(workflow_id, required=False)
            with self._runner.streams.held(self._actor):
                async for batch in self._runner.watch_all(workflow, kinds, self.namespace):
                    # The hub filters by namespace already; this stays the last word.
                    if all(self._mine(run_id) for run_id in {e.run_id for e in batch}):
                        yield batch if self._local else batch.local()
                    elif mine := [self._out_event(e) for e in batch if self._mine(e.run_id)]:
                        yield Batch.of(mine)
        except SteplineError as exc:
            raise self._localized(exc) from None

    # -- schedules (keyed as runs are, so the runs they start are this namespace's)

    async def create_schedule(self, spec: runner_pb2.ScheduleSpec) -> runner_pb2.Schedule:
        try:
            scoped = runner_pb2.ScheduleSpec()
            scoped.CopyFrom(spec)
            scoped.schedule_id = self._schedule(spec.schedule_id)
            scoped.workflow_id = self._workflow(spec.workflow_id, required=False)
            return self._out_schedule(await self._runner.schedules.create(scoped, self._actor))
        except SteplineError as exc:
            raise self._localized(exc) from None

    async def get_schedule(self, schedule_id: str) -> runner_pb2.Schedule:
        try:
            key = self._schedule(schedule_id)
            return self._out_schedule(await self._runner.schedules.get(key))
        except SteplineError as exc:
            raise self._localized(exc) from None

    async def list_schedules(
        self, workflow_id: str, page_size: int, page_token: str
    ) -> tuple[list[runner_pb2.Schedule], str]:
        try:
            schedules, token = await self._runner.schedules.list(
                self._workflow(workflow_id, required=False), page_size, page_token, self.namespace
            )
        except SteplineError as exc:
            raise self._localized(exc) from None
        return [self._out_schedule(s) for s in schedules], token

    async def pause_schedule(self, schedule_id: str) -> runner_pb2.Schedule:
        try:
            key = self._schedule(schedule_id)
            return self._out_schedule(await self._runner.schedules.pause(key, self._actor))
        except SteplineError as exc:
            raise self._localized(exc) from None

    async def resume_schedule(self, schedule_id: str) -> runner_pb2.Schedule:
        try:
            key = self._schedule(schedule_id)
            return self._out_schedule(await self._runner.schedules.resume(key, self._actor))
        except SteplineError as exc:
            raise self._localized(exc) from None

    async def delete_schedule(self, schedule_id: str) -> None:
        try:
            await self._runner.schedules.delete(self._schedule(schedule_id))
        except SteplineError as exc:
            raise self._localized(exc) from None
