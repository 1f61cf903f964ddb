"""`Stops`: the runs whose driver is being stopped (`Supervisor.stop`).

A stop (cancel the driver, in-flight calls included, then let its last
commit land: `RunDriver.settle`) is a task of its own, which a cancelled
caller (a CancelRun whose client gave up) leaves going on. The run counts
as active until it ended, and a later stop waits for it: so nothing claims
the run, which would make that commit stale, before the commit landed.
"""

from __future__ import annotations

import asyncio
import contextlib

from .driver import RunDriver


class Stops:
    def __init__(self) -> None:
        self._stopping: dict[str, asyncio.Future[None]] = {}

    def __contains__(self, run_id: str) -> bool:
        return run_id in self._stopping

    def under_way(self) -> list[asyncio.Future[None]]:
        return list(self._stopping.values())

    async def stop(
        self, run_id: str, task: asyncio.Task[None] | None, driver: RunDriver | None
    ) -> None:
        """Stop the run's `task` and `driver` (None: no longer driven), or
        wait for the stop under way; cancelling the caller stops neither."""
        stopping = self._stopping.get(run_id)
        if stopping is None:
            if task is None or driver is None:
                return
            stopping = self._stopping[run_id] = asyncio.ensure_future(_stop(task, driver))
            stopping.add_done_callback(lambda _: self._stopping.pop(run_id, None))
        await asyncio.shield(stopping)


async def _stop(task: asyncio.Task[None], driver: RunDriver) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await driver.settle()  # its last commit lands before the caller's
