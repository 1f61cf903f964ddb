"""`Scope`: one namespace's ids, and the keys the runner knows them by.

Ids in are checked strictly before they become keys (an id that held a
key's separator could name another namespace's object); keys out become ids
again, in runs, events, checkpoints, schedules and error messages. In
"default" the keys are the ids, so nothing is rewritten there.
"""

from __future__ import annotations

from stepline.v1 import events_pb2, runner_pb2

from ..namespaces import (
    DEFAULT,
    RUN_JOIN,
    WORKFLOW_JOIN,
    run_key,
    split_run_key,
    split_workflow_key,
    valid_namespace,
    workflow_key,
)
from .errors import InvalidArgument, Reason, SteplineError
from .schedule_checks import check_schedule_id
from .validation import check_id, check_run_id, short


def check_namespace(namespace: str) -> str:
    """The namespace a request names ("" is default), or INVALID_ARGUMENT."""
    if not namespace:
        return DEFAULT
    if not valid_namespace(namespace):
        raise InvalidArgument(
            f"namespace {short(namespace)} must be 1-63 lowercase letters, digits or '-', "
            "starting and ending with a letter or digit",
            reason=Reason.INVALID_NAMESPACE,
            context={"field": "namespace"},
        )
    return namespace


def local_event(event: events_pb2.Event) -> events_pb2.Event:
    """The event as its run's namespace sees it: ids, not keys (the event
    itself in default, else a copy: the hub hands one event to every watcher)."""
    namespace, run_id = split_run_key(event.run_id)
    if namespace == DEFAULT:
        return event
    out = events_pb2.Event()
    out.CopyFrom(event)
    out.run_id = run_id
    out.workflow_id = split_workflow_key(event.workflow_id)[1]
    return out


class Scope:
    """The ids of one namespace, in and out."""

    def __init__(self, namespace: str, id_length: int) -> None:
        self.namespace = check_namespace(namespace)
        self._id_length = id_length
        self._local = self.namespace == DEFAULT

    # -- ids in

    def _run(self, run_id: str, field: str = "run_id") -> str:
        check_run_id(run_id, field)
        return run_key(self.namespace, run_id)

    def _workflow(self, workflow_id: str, required: bool = True) -> str:
        check_id(workflow_id, "workflow_id", self._id_length, required)
        return workflow_key(self.namespace, workflow_id) if workflow_id else ""

    def _mine(self, run_id_key: str) -> bool:
        return split_run_key(run_id_key)[0] == self.namespace

    # -- ids out

    def _run_id(self, key: str) -> str:
        return key if self._local or not key else split_run_key(key)[1]

    def _workflow_id(self, key: str) -> str:
        return key if self._local or not key else split_workflow_key(key)[1]

    def _out_run(self, run: runner_pb2.Run) -> runner_pb2.Run:
        if self._local:
            return run
        out = runner_pb2.Run()
        out.CopyFrom(run)
        out.run_id = self._run_id(run.run_id)
        out.workflow_id = self._workflow_id(run.workflow_id)
        out.parent_run_id = self._run_id(run.parent_run_id)
        return out

    def _out_event(self, event: events_pb2.Event) -> events_pb2.Event:
        return event if self._local else local_event(event)

    def _out_checkpoint(self, checkpoint: runner_pb2.Checkpoint) -> runner_pb2.Checkpoint:
        if not self._local:
            checkpoint.run_id = self._run_id(checkpoint.run_id)
        return checkpoint

    def _localized(self, exc: SteplineError) -> SteplineError:
        """The error with this namespace's keys written as its ids."""
        if self._local:
            return exc
        prefixes = (f"'{self.namespace}{RUN_JOIN}", f"'{self.namespace}{WORKFLOW_JOIN}")
        text = str(exc)
        for prefix in prefixes:
            text = text.replace(prefix, "'")
        exc.args = (text,)
        for name, value in exc.context.items():
            if name.endswith("workflow_id"):
                exc.context[name] = self._workflow_id(value)
            elif name.endswith(("run_id", "schedule_id")) and self._mine(value):
                exc.context[name] = self._run_id(value)
        return exc

    def _schedule(self, schedule_id: str) -> str:
        check_schedule_id(schedule_id)
        return run_key(self.namespace, schedule_id)

    def _out_schedule(self, schedule: runner_pb2.Schedule) -> runner_pb2.Schedule:
        if self._local:
            return schedule
        out = runner_pb2.Schedule()
        out.CopyFrom(schedule)
        out.spec.schedule_id = self._run_id(schedule.spec.schedule_id)
        out.spec.workflow_id = self._workflow_id(schedule.spec.workflow_id)
        out.last_run_id = self._run_id(schedule.last_run_id)
        return out


def valid_run_id(run_id: str) -> bool:
    try:
        check_run_id(run_id)
    except InvalidArgument:
        return False
    return True
