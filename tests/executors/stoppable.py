"""`stoppable`: an executor whose handler waits until its call is cancelled,
marking in STEPLINE_MARK_DIR `<run_id>.entered` when it starts waiting and
`<run_id>.stopped` when it is cancelled (its run cancelled in the runner)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from stepline import Executor, WorkflowContext, handler, run_executors

MARKS = Path(os.environ.get("STEPLINE_MARK_DIR", "."))


class Stoppable(Executor):
    @handler
    async def wait(self, n: int, ctx: WorkflowContext) -> None:
        (MARKS / f"{ctx.run_id}.entered").touch()
        try:
            await asyncio.Event().wait()  # until cancelled
        except asyncio.CancelledError:
            (MARKS / f"{ctx.run_id}.stopped").touch()
            raise


if __name__ == "__main__":
    run_executors({"stoppable": Stoppable})
