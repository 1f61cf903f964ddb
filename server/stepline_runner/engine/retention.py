"""Finished-run retention: runs that ended longer ago than an age are deleted,
with their events, checkpoints and the blobs only they used."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from .errors import SteplineError
from .runner import Runner

log = logging.getLogger(__name__)

BATCH = 100
MAX_INTERVAL = 300.0


async def delete_finished(runner: Runner, age: float, now: float) -> list[str]:
    """Delete every run that ended (last changed) more than `age` seconds before
    `now`; return their ids. A run resumed meanwhile is left alone."""
    deleted: list[str] = []
    while True:
        run_ids = await runner.store.finished_runs_before(now - age, BATCH)
        progress = False
        for run_id in run_ids:
            try:
                await runner.delete_run(run_id)
            except SteplineError:
                continue  # resumed or deleted since it was listed
            deleted.append(run_id)
            progress = True
        if len(run_ids) < BATCH or not progress:
            return deleted


class Retention:
    """Sweeps at start and then every `interval` (a fraction of `age`) until stopped."""

    def __init__(self, runner: Runner, age: float, clock: Callable[[], float] = time.time) -> None:
        if age <= 0:
            raise ValueError("the retention age must be positive")
        self.runner = runner
        self.age = age
        self.interval = min(max(age / 10, 1.0), MAX_INTERVAL)
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    async def sweep(self) -> list[str]:
        leases = self.runner.leases
        if leases is not None and not leases.leading():
            return []  # runners share the database: the leader sweeps
        deleted = await delete_finished(self.runner, self.age, self._clock())
        if deleted:
            log.info("deleted %d finished run(s) older than %gs", len(deleted), self.age)
        return deleted

    async def start(self) -> None:
        """Sweep once now (the caller may rely on it), then every `interval`."""
        await self.sweep()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sweep()
            except Exception:  # a failed sweep (disk full...) must not stop the next
                log.exception("finished-run retention sweep failed")
