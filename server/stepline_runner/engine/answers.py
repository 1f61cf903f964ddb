"""Answering a run's open requests for input (SendResponses): the answers
checked against what is open, the executors put back (they may have
restarted while the run waited), the run driven on at once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from stepline.v1 import events_pb2, payload_pb2, runner_pb2

from ..store import RunUpdate
from . import events as ev
from .errors import FailedPrecondition, Reason
from .limits import Limits
from .new_runs import check_signature
from .reads import Reads
from .requests import accept_responses, received_events
from .run_parts import RunParts
from .state import RunState
from .validation import check_id

E = events_pb2


@dataclass(eq=False)
class Answers(RunParts):
    reads: Reads
    limits: Limits

    async def send(
        self, run_id: str, responses: Mapping[str, payload_pb2.Payload], actor: str = ""
    ) -> runner_pb2.Run:
        """Answer open requests of a run that waits for input; it goes on at
        once. The run as the answers left it."""
        self.runs.check_open()
        for request_id in responses:
            check_id(request_id, "request id", self.limits.id_length)
        async with self.runs.lock(run_id):
            run = await self.reads.run(run_id)
            if self.runs.is_active(run_id) or run.status != E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS:
                raise FailedPrecondition(
                    f"run {run_id!r} is not waiting for input "
                    f"({E.RunStatus.Name(run.status)}); answer when its status is "
                    "RUN_STATUS_IDLE_WITH_PENDING_REQUESTS",
                    reason=Reason.NOT_WAITING_FOR_INPUT,
                    context={"run_id": run_id, "status": E.RunStatus.Name(run.status)},
                )
            checkpoint = await self.reads.checkpoint(run.latest_checkpoint_id, True)
            workflow = await self.workflows.get(run.workflow_id, run.workflow_version)
            check_signature(checkpoint, workflow)
            state = RunState.from_checkpoint(run_id, workflow.graph, checkpoint)
            # The log is read only to tell "answered" from "unknown" for an id
            # that is not pending.
            unknown = not responses.keys() <= state.pending_requests.keys()
            answered = await self.store.answered_request_ids(run_id) if unknown else set()
            accepted = accept_responses(state, responses, answered)
            # The executors may have restarted while the run waited (days, maybe).
            epoch = await self.runs.claim(run_id)
            saved = checkpoint.content.executor_states
            incarnations = await self.runs.restore(state, saved, epoch)
            checkpointed = state.checkpoint(checkpoint.checkpoint_id, changed=frozenset())
            state.checkpoint_id = checkpointed.checkpoint_id
            status = state.settled_status
            events = received_events(state.superstep, accepted)
            events.append(ev.status_changed(status, state.superstep))
            update = RunUpdate(status, state.superstep, epoch=epoch)
            await self.log.append(
                run_id, run.workflow_id, update, ev.by(actor, events), checkpointed
            )
            # Read now: once launched, its driver may commit its next
            # superstep before a later read.
            answered_run = await self.reads.run(run_id)
            self.runs.launch(
                state,
                workflow,
                run.checkpoint_policy,
                status,
                incarnations=incarnations,
                epoch=epoch,
            )
        return answered_run
