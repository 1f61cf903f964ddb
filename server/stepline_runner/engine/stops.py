"""Work on a run that its caller's cancel does not stop (`Joined`), and the
runs whose driver is being stopped (`Stops`, for `Supervisor.stop`).

A stop (cancel the driver, in-flight calls included, then let its last
commit land: `RunDriver.settle`) is a task of its own, which a cancelled
caller (a CancelRun whose client gave up) leaves going on. The run counts
as active until it ended, and a later stop waits for it: so nothing claims
the run, which would make that commit stale, before the commit landed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from .driver import RunDriver
from .errors import FailedPrecondition, NotFound

T = TypeVar("T")
log = logging.getLogger(__name__)

# What work on a run may end in that its caller would have been answered.
ANSWERS = (FailedPrecondition, NotFound)


class Joined(Generic[T]):
    """One piece of work per run at a time, in a task of its own: cancelling
    its caller does not cancel it, and a caller that comes while it is under
    way waits for it (and gets its result) instead of starting another."""

    def __init__(self) -> None:
        self._under_way: dict[str, asyncio.Future[T]] = {}

    def __contains__(self, run_id: str) -> bool:
        return run_id in self._under_way

    def run_ids(self) -> list[str]:
        return list(self._under_way)

    def under_way(self) -> list[asyncio.Future[T]]:
        return list(self._under_way.values())

    async def join(self, run_id: str) -> None:
        """Wait for the run's work under way, if any."""
        future = self._under_way.get(run_id)
        if future is not None:
            await asyncio.shield(future)

    async def settle(self) -> None:
        """Wait for all the work under way (cancelling the waiter cancels
        none of it), logging what failed: its callers may have given up. An
        answer a caller would have had (the run ended meanwhile, was deleted
        or taken over) is no failure of the runner's: logged, not as an error."""
        under_way = list(self._under_way.items())
        if not under_way:
            return
        await asyncio.wait([future for _, future in under_way])
        for run_id, done in under_way:
            if done.cancelled() or (exc := done.exception()) is None:
                continue
            if isinstance(exc, ANSWERS):
                log.info("work on run %r as the runner stopped: %s", run_id[:128], exc)
            else:
                log.error("work on run %r failed as the runner stopped", run_id[:128], exc_info=exc)

    async def run(self, run_id: str, work: Callable[[], Awaitable[T]]) -> T:
        """`work()` for the run, or the result of the work under way."""
        future = self._under_way.get(run_id)
        if future is None:
            future = self._under_way[run_id] = asyncio.ensure_future(work())
            future.add_done_callback(lambda _: self._under_way.pop(run_id, None))
        return await asyncio.shield(future)


class Stops(Joined[None]):
    async def stop(
        self, run_id: str, task: asyncio.Task[None] | None, driver: RunDriver | None
    ) -> None:
        """Stop the run's `task` and `driver` (None: no longer driven), or
        wait for the stop under way; cancelling the caller stops neither."""
        if task is None or driver is None:
            await self.join(run_id)
        else:
            await self.run(run_id, lambda: _stop(task, driver))


async def _stop(task: asyncio.Task[None], driver: RunDriver) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await driver.settle()  # its last commit lands before the caller's
