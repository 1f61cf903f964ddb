"""Checked reads of what a runner stores: runs, checkpoints (and their
deletion) and open requests for input, as `Runner` answers GetRun,
ListCheckpoints, GetCheckpoint, DeleteCheckpoint and ListPendingRequests."""

from __future__ import annotations

from stepline.v1 import payload_pb2, runner_pb2

from ..statuses import WITH_OPEN_REQUESTS
from ..store import Store
from .errors import DataLoss, FailedPrecondition, NotFound, Reason
from .limits import Limits
from .validation import check_id, check_run_key, clamp_page_size, short


class Reads:
    def __init__(self, store: Store, limits: Limits) -> None:
        self._store = store
        self._limits = limits

    async def run(self, run_id: str) -> runner_pb2.Run:
        """A run by its id (NotFound: there is none)."""
        check_run_key(run_id)
        run = await self._store.get_run(run_id)
        if run is None:
            raise NotFound(
                f"no run {run_id!r}", reason=Reason.RUN_NOT_FOUND, context={"run_id": run_id}
            )
        return run

    async def checkpoint(self, checkpoint_id: str, include_content: bool) -> runner_pb2.Checkpoint:
        """A checkpoint by its id (NotFound: there is none)."""
        check_id(checkpoint_id, "checkpoint_id", self._limits.id_length)
        checkpoint = await self._store.get_checkpoint(checkpoint_id, include_content)
        if checkpoint is None:
            raise NotFound(
                f"no checkpoint {short(checkpoint_id)}",
                reason=Reason.CHECKPOINT_NOT_FOUND,
                context={"checkpoint_id": checkpoint_id},
            )
        return checkpoint

    async def checkpoints(
        self, run_id: str, page_size: int, page_token: str
    ) -> tuple[list[runner_pb2.Checkpoint], str]:
        """A run's checkpoints, a page at a time."""
        await self.run(run_id)
        return await self._store.list_checkpoints(run_id, clamp_page_size(page_size), page_token)

    async def delete_checkpoint(self, checkpoint_id: str) -> int:
        """Delete a checkpoint that is not its run's latest; return blobs removed."""
        checkpoint = await self.checkpoint(checkpoint_id, include_content=False)
        run = await self.run(checkpoint.run_id)
        if run.latest_checkpoint_id == checkpoint_id:
            raise FailedPrecondition(
                f"checkpoint {checkpoint_id} is the latest of run {run.run_id!r}, which resumes "
                "from it; delete older ones, or set a retention policy",
                reason=Reason.LATEST_CHECKPOINT,
                context={"run_id": run.run_id, "checkpoint_id": checkpoint_id},
            )
        return await self._store.delete_checkpoint(run.run_id, checkpoint_id)

    async def waiting_runs(self) -> list[tuple[runner_pb2.Run, list[payload_pb2.InputRequest]]]:
        """Every run with requests for input still open, and those requests."""
        unfinished = await self._store.list_unfinished_runs()
        runs = [r for r in unfinished if r.status in WITH_OPEN_REQUESTS]
        return [(run, await self._requests(run)) for run in runs]

    async def pending_requests(self, run_id: str) -> list[payload_pb2.InputRequest]:
        """The run's open requests for input, oldest first, as its latest
        checkpoint holds them: never its driver's, which run ahead of the
        store (a commit under way, supersteps not checkpointed yet)."""
        return await self._requests(await self.run(run_id))

    async def _requests(self, run: runner_pb2.Run) -> list[payload_pb2.InputRequest]:
        while True:
            checkpoint = await self._store.get_checkpoint(
                run.latest_checkpoint_id, include_content=True, include_states=False
            )
            if checkpoint is not None:
                return list(checkpoint.content.pending_requests)
            # Pruned as a newer one landed since the read, else the store lost it.
            missing = run.latest_checkpoint_id
            run = await self.run(run.run_id)
            if run.latest_checkpoint_id == missing:
                raise DataLoss(f"run {run.run_id!r}: its latest checkpoint {missing} is missing")
