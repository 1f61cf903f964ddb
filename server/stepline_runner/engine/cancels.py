"""CancelRun: a run stopped where it is, for good (CANCELLED), whoever drove it."""

from __future__ import annotations

from stepline.v1 import events_pb2, runner_pb2

from ..statuses import is_terminal
from ..store import RunUpdate
from . import events as ev
from .errors import FailedPrecondition, Reason
from .reads import Reads
from .registry import WorkflowRegistry
from .runlog import RunLog
from .stops import Joined
from .supervisor import Supervisor

E = events_pb2


class Canceller:
    def __init__(
        self, runs: Supervisor, workflows: WorkflowRegistry, log: RunLog, reads: Reads
    ) -> None:
        self.runs = runs
        self.workflows = workflows
        self.log = log
        self.reads = reads
        self._under_way: Joined[runner_pb2.Run] = Joined()  # by run

    async def cancel(self, run_id: str, actor: str = "") -> runner_pb2.Run:
        """Cancel the run; the run as it is then. Refused once the runner closes."""
        self.runs.check_open()
        # Goes on if its caller gives up: stopped, yet stored running, it would be driven again.
        return await self._under_way.run(run_id, lambda: self._cancel(run_id, actor))

    async def settle(self) -> None:
        """Wait for the cancels under way (the runner's close: those whose
        clients gave up go on past the stops it waits for)."""
        await self._under_way.settle()

    async def _cancel(self, run_id: str, actor: str) -> runner_pb2.Run:
        async with self.runs.lock(run_id):
            run = await self.reads.run(run_id)
            if is_terminal(run.status):
                raise FailedPrecondition(
                    f"run {run_id!r} already ended ({E.RunStatus.Name(run.status)})",
                    reason=Reason.RUN_ENDED,
                    context={"run_id": run_id, "status": E.RunStatus.Name(run.status)},
                )
            await self.runs.stop(run_id)
            # Fences out whoever still drives it (its executor calls too).
            epoch = await self.runs.claim(run_id)
            run = await self.reads.run(run_id)
            if not is_terminal(run.status):
                events = [ev.status_changed(E.RUN_STATUS_CANCELLED, run.superstep)]
                update = RunUpdate(E.RUN_STATUS_CANCELLED, run.superstep, epoch=epoch)
                await self.log.append(run_id, run.workflow_id, update, ev.by(actor, events))
            # Under the lock, so it cannot land after a resume's restore. The
            # stored definition, not a described one: cancelling must work
            # while executor services are down. Only endpoints the runner may dial now.
            stored = await self.workflows.stored(run.workflow_id, run.workflow_version)
            nodes = self.workflows.dialable(stored.definition.executors)
            await self.runs.end_run(run_id, nodes, epoch)
        return await self.reads.run(run_id)
