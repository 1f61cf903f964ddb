"""Checkpoint calls of `RunnerClient`: list, read, delete, and go on from one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from stepline import payloads
from stepline._calls import ClientCalls, Page
from stepline.v1 import runner_pb2

Checkpoint = runner_pb2.Checkpoint
Run = runner_pb2.Run


class CheckpointCalls(ClientCalls):
    """Checkpoint calls; `RunnerClient` provides the stub and the call seams."""

    async def list_checkpoints(
        self, run_id: str, *, page_size: int = 100
    ) -> AsyncIterator[Checkpoint]:
        """All of a run's checkpoints, oldest first, page by page."""

        async def page(token: str) -> Page[Checkpoint]:
            request = runner_pb2.ListCheckpointsRequest(
                run_id=run_id, page_size=page_size, page_token=token
            )
            response = await self._call(self._stub.ListCheckpoints, request)
            return response.checkpoints, response.next_page_token

        async for checkpoint in self._pages(page):
            yield checkpoint

    async def get_checkpoint(
        self, checkpoint_id: str, *, include_content: bool = False
    ) -> Checkpoint:
        """A checkpoint; with `include_content`, its states, messages and shared state too."""
        response = await self._call(
            self._stub.GetCheckpoint,
            runner_pb2.GetCheckpointRequest(
                checkpoint_id=checkpoint_id, include_content=include_content
            ),
        )
        return response.checkpoint

    async def get_checkpoint_states(self, checkpoint_id: str) -> dict[str, Any]:
        """The executor states a checkpoint holds, decoded from JSON, by executor id."""
        checkpoint = await self.get_checkpoint(checkpoint_id, include_content=True)
        return {
            executor_id: payloads.json_value(state)
            for executor_id, state in checkpoint.content.executor_states.items()
        }

    async def delete_checkpoint(self, checkpoint_id: str) -> int:
        """Delete a checkpoint (not its run's latest); returns how many state
        blobs went with it (those no other checkpoint references)."""
        response = await self._call(
            self._stub.DeleteCheckpoint,
            runner_pb2.DeleteCheckpointRequest(checkpoint_id=checkpoint_id),
        )
        return response.blobs_removed

    async def resume(self, checkpoint_id: str, *, fork: bool = False, new_run_id: str = "") -> Run:
        """Continue from a checkpoint: its run, if it is the run's latest; else
        (or with `fork`) a new run whose parent is the checkpoint."""
        response = await self._call(
            self._stub.ResumeRun,
            runner_pb2.ResumeRunRequest(
                checkpoint_id=checkpoint_id, fork=fork, new_run_id=new_run_id
            ),
        )
        return response.run
