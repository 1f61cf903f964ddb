"""ListPendingRequests reads the run again when its latest checkpoint is
gone (pruned as a newer one landed), but not without bound: a run whose
latest checkpoint is missing (a damaged store) is DATA_LOSS, not a call that
reads the store for ever (review R6)."""

from __future__ import annotations

from typing import Any

import pytest

from stepline.v1 import runner_pb2
from stepline_runner.engine.errors import DataLoss
from stepline_runner.engine.limits import Limits
from stepline_runner.engine.reads import Reads


class DamagedStore:
    """A run whose latest checkpoint id names no checkpoint."""

    def __init__(self) -> None:
        self.reads = 0

    async def get_run(self, run_id: str) -> runner_pb2.Run:
        return runner_pb2.Run(run_id=run_id, latest_checkpoint_id="gone")

    async def get_checkpoint(self, checkpoint_id: str, *args: Any, **kwargs: Any) -> None:
        self.reads += 1
        if self.reads > 10:
            raise RuntimeError("still reading: the loop has no end")
        return None


async def test_a_missing_latest_checkpoint_is_an_error_not_an_endless_loop() -> None:
    store = DamagedStore()
    reads = Reads(store, Limits())  # type: ignore[arg-type]
    with pytest.raises(DataLoss, match="latest checkpoint gone is missing"):
        await reads.pending_requests("r")
    assert store.reads == 1
