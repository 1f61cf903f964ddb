"""The first records of a new run, started or forked: its state, its first
checkpoint, its row and its first events. Pure: `Runner` stores them
(through the run log) and launches the run."""

from __future__ import annotations

from dataclasses import dataclass, replace

from stepline.v1 import events_pb2, payload_pb2, runner_pb2, workflow_pb2

from ..store import NewCheckpoint
from . import events as ev
from .errors import FailedPrecondition, InvalidArgument, Reason
from .inputs import accepts_type, type_list
from .registry import Workflow
from .state import RunState
from .validation import short

E = events_pb2


@dataclass
class NewRun:
    state: RunState
    checkpoint: NewCheckpoint
    run: runner_pb2.Run
    events: list[events_pb2.Event]


def started(
    run_id: str,
    workflow: Workflow,
    payload: payload_pb2.Payload,
    policy: workflow_pb2.CheckpointPolicy | None,
) -> NewRun:
    """A run of `workflow` on `payload`: checkpoint 0 holds the input for the
    start executor. `policy`, if it sets a mode, overrides the workflow's."""
    graph = workflow.graph
    state = RunState(run_id, graph, superstep=0, checkpoint_id="")
    state.pending = [payload_pb2.Message(target_id=graph.start_id, payload=payload)]
    checkpoint = state.checkpoint(parent_checkpoint_id="")
    state.checkpoint_id = checkpoint.checkpoint_id
    run = runner_pb2.Run(
        run_id=run_id,
        workflow_id=graph.workflow_id,
        status=E.RUN_STATUS_RUNNING,
        graph_signature=graph.signature,
        workflow_version=workflow.version,
        checkpoint_policy=policy
        if policy is not None and policy.mode
        else graph.definition.checkpoint_policy,
    )
    events = [
        ev.event(E.EVENT_KIND_RUN_STARTED, workflow_id=graph.workflow_id, data=payload),
        ev.status_changed(E.RUN_STATUS_RUNNING, 0),
    ]
    return NewRun(state, checkpoint, run, events)


def forked(
    run_id: str,
    workflow: Workflow,
    checkpoint: runner_pb2.Checkpoint,
    source: runner_pb2.Run,
) -> NewRun:
    """A new run `run_id` that goes on from `checkpoint` (read with its
    content) of run `source`; its first checkpoint is that one's child."""
    state = RunState.from_checkpoint(run_id, workflow.graph, checkpoint)
    first = state.checkpoint(parent_checkpoint_id=checkpoint.checkpoint_id)
    # With the bytes: the source checkpoint may be deleted meanwhile.
    saved = checkpoint.content.executor_states
    first.states = {x: replace(ref, data=saved[x].data) for x, ref in first.states.items()}
    state.checkpoint_id = first.checkpoint_id
    run = runner_pb2.Run(
        run_id=run_id,
        workflow_id=source.workflow_id,
        status=E.RUN_STATUS_RUNNING,
        parent_checkpoint_id=checkpoint.checkpoint_id,
        parent_run_id=source.run_id,
        graph_signature=workflow.graph.signature,
        workflow_version=workflow.version,
        checkpoint_policy=source.checkpoint_policy,
    )
    events = [
        ev.event(E.EVENT_KIND_RUN_STARTED, state.superstep, workflow_id=source.workflow_id),
        ev.event(
            E.EVENT_KIND_RUN_RESUMED,
            state.superstep,
            checkpoint_id=checkpoint.checkpoint_id,
            message=f"forked from run {source.run_id}",
        ),
        # The fork waits for the requests open at its checkpoint: its own log
        # says so, for clients that watch it for requests.
        *(
            ev.event(
                E.EVENT_KIND_REQUEST_INFO,
                state.superstep,
                executor_id=request.executor_id,
                request=request,
            )
            for request in state.pending_requests.values()
        ),
        ev.status_changed(E.RUN_STATUS_RUNNING, state.superstep),
    ]
    return NewRun(state, first, run, events)


# The accepted types quoted in a refusal: a service may declare hundreds.
TYPES_QUOTED = 300


def check_input(workflow: Workflow, payload: payload_pb2.Payload, what: str = "the input") -> None:
    """Refuse an input the start executor does not take, naming the types it does."""
    start = workflow.graph.start_id
    takes = workflow.accepts[start]
    if not accepts_type(takes, payload.type_name):
        expected = type_list(takes)
        if len(expected) > TYPES_QUOTED:
            expected = f"{expected[:TYPES_QUOTED]}... ({len(takes)} types)"
        raise InvalidArgument(
            f"start executor {start!r} takes {expected}; "
            f"{what} has type {short(payload.type_name)}",
            reason=Reason.INPUT_TYPE_MISMATCH,
            context={"workflow_id": workflow.graph.workflow_id, "executor_id": start},
        )


def check_signature(checkpoint: runner_pb2.Checkpoint, workflow: Workflow) -> None:
    """Refuse to go on from a checkpoint taken with another graph."""
    if checkpoint.graph_signature != workflow.graph.signature:
        raise FailedPrecondition(
            f"checkpoint {checkpoint.checkpoint_id} was taken with another graph of workflow "
            f"{workflow.graph.workflow_id!r} (signature {checkpoint.graph_signature}, now "
            f"{workflow.graph.signature}); register the original graph to go on with it",
            reason=Reason.GRAPH_CHANGED,
            context={
                "workflow_id": workflow.graph.workflow_id,
                "checkpoint_id": checkpoint.checkpoint_id,
            },
        )
