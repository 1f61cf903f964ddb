"""Moving runs to another version of their workflow: the one explicit way a
run's executor endpoints change (registration never does it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stepline.v1 import events_pb2, runner_pb2

from ..store import RunUpdate, Store, StoredWorkflow
from . import events as ev
from .errors import FailedPrecondition, InvalidArgument, NotFound, Reason
from .registry import WorkflowRegistry
from .runlog import RunLog
from .supervisor import Supervisor
from .validation import check_run_key

E = events_pb2
# Run ids one call may name.
MAX_NAMED_RUNS = 1000
_PAGE = 500


@dataclass(frozen=True)
class Moved:
    moved: list[str]
    skipped: list[str]


def unmovable(run: runner_pb2.Run, target: StoredWorkflow, active: bool) -> tuple[str, bool] | None:
    """Why the run cannot move to `target`, and whether that is an error when
    named (a run already there is not); None when it can."""
    if run.workflow_version == target.version:
        return f"run {run.run_id!r} already uses version {target.version}", False
    if active:
        return (
            f"run {run.run_id!r} is being driven; move it once it waits, fails or is cancelled",
            True,
        )
    if run.status == E.RUN_STATUS_COMPLETED:
        return f"run {run.run_id!r} completed; it has nothing left to run", True
    if run.graph_signature != target.signature:
        return (
            f"run {run.run_id!r} has graph signature {run.graph_signature[:16]}, version "
            f"{target.version} has {target.signature[:16]}: only endpoints may change in a move",
            True,
        )
    return None


def moved_event(run: runner_pb2.Run, to_version: int) -> events_pb2.Event:
    return ev.event(
        E.EVENT_KIND_RUN_MOVED,
        run.superstep,
        workflow_id=run.workflow_id,
        workflow_version=to_version,
        message=f"moved from version {run.workflow_version} to version {to_version}",
    )


class RunMover:
    def __init__(
        self, store: Store, runs: Supervisor, workflows: WorkflowRegistry, log: RunLog
    ) -> None:
        self._store = store
        self._runs = runs
        self._workflows = workflows
        self._log = log

    async def move(
        self,
        workflow_id: str,
        to_version: int,
        run_ids: Sequence[str],
        all_runs: bool,
        actor: str = "",
    ) -> Moved:
        _check_request(to_version, run_ids, all_runs)
        target = await self._workflows.stored(workflow_id, to_version)
        if all_runs:
            candidates = await self._all_runs(workflow_id)
        else:
            candidates = [await self._named(workflow_id, r) for r in dict.fromkeys(run_ids)]
            for run in candidates:  # all checked before any moves
                self._refuse_if_unmovable(run, target)
        moved: list[str] = []
        skipped: list[str] = []
        for run in candidates:
            async with self._runs.lock(run.run_id):
                current = await self._store.get_run(run.run_id)
                if current is None:
                    skipped.append(run.run_id)
                    continue
                if not all_runs:
                    self._refuse_if_unmovable(current, target)
                if unmovable(current, target, self._runs.is_active(run.run_id)) is not None:
                    skipped.append(run.run_id)
                    continue
                await self._move(current, target.version, actor)
                moved.append(run.run_id)
        return Moved(moved, skipped)

    def _refuse_if_unmovable(self, run: runner_pb2.Run, target: StoredWorkflow) -> None:
        why = unmovable(run, target, self._runs.is_active(run.run_id))
        if why is not None and why[1]:
            raise FailedPrecondition(
                why[0],
                reason=Reason.RUN_NOT_MOVABLE,
                context={"run_id": run.run_id, "to_version": str(target.version)},
            )

    async def _move(self, run: runner_pb2.Run, to_version: int, actor: str) -> None:
        error = run.error if run.HasField("error") else None
        # Fenced by the epoch read: a run taken in hand since is not moved behind its back.
        update = RunUpdate(
            run.status, run.superstep, error, workflow_version=to_version, epoch=run.epoch
        )
        await self._log.append(
            run.run_id, run.workflow_id, update, ev.by(actor, [moved_event(run, to_version)])
        )

    async def _named(self, workflow_id: str, run_id: str) -> runner_pb2.Run:
        run = await self._store.get_run(run_id)
        if run is None or run.workflow_id != workflow_id:
            raise NotFound(
                f"no run {run_id!r} of workflow {workflow_id!r}",
                reason=Reason.RUN_NOT_FOUND,
                context={"run_id": run_id, "workflow_id": workflow_id},
            )
        return run

    async def _all_runs(self, workflow_id: str) -> list[runner_pb2.Run]:
        runs: list[runner_pb2.Run] = []
        token = ""
        while True:
            page, token = await self._store.list_runs(workflow_id, _PAGE, token)
            runs.extend(r for r in page if r.status != E.RUN_STATUS_COMPLETED)
            if not token:
                return runs


def _check_request(to_version: int, run_ids: Sequence[str], all_runs: bool) -> None:
    if to_version <= 0:
        raise InvalidArgument(
            f"to_version must be 1 or more, not {to_version}", reason=Reason.INVALID_VERSION
        )
    if bool(run_ids) == all_runs:
        raise InvalidArgument(
            "name the runs to move in run_ids, or set all_runs (not both)",
            reason=Reason.MISSING_FIELD,
            context={"field": "run_ids"},
        )
    if len(run_ids) > MAX_NAMED_RUNS:
        raise InvalidArgument(
            f"at most {MAX_NAMED_RUNS} run ids per call, not {len(run_ids)}; "
            "move them in batches, or use all_runs",
            reason=Reason.INVALID_ID,
            context={"field": "run_ids"},
        )
    for run_id in run_ids:
        check_run_key(run_id, "run_ids")
