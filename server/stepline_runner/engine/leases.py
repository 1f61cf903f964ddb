"""`LeaseKeeper`: several runners on one database, each active run driven by
the one runner that holds its lease.

A runner leases the runs it creates or takes in hand (`Store.claim_run`
and `create_run` do it, with the store's owner id and lease duration). This
keeper, one task per runner, renews its leases every third of the lease
(`renew_leases`); lets go of runs whose lease another runner took over (it
stops their drivers: their next commit or executor call would be refused as
stale anyway); and takes over runs whose lease expired (`claim_expired`: the
owner died, or was paused or cut off past its lease), each at a new epoch,
restoring their executors from the last checkpoint like a restarted runner.

Claims take at most `batch` runs per round, so the runs of a runner that died
are spread over the live runners that claim them rather than all taken by the
first to look.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection
from typing import Protocol

from stepline.v1 import runner_pb2

from .supervisor import Supervisor

log = logging.getLogger(__name__)

BATCH = 4


class LeaseStore(Protocol):
    """What a store shared by several runners adds (PostgreSQL)."""

    lease_seconds: float

    async def renew_leases(self, run_ids: Collection[str]) -> set[str]:
        """Extend this runner's leases of those runs; the ids of those it still holds."""
        ...

    async def claim_expired(self, limit: int) -> list[runner_pb2.Run]:
        """Take over at most `limit` active runs whose lease expired, each at
        a new epoch (in the returned runs), skipping rows others are claiming."""
        ...


class LeaseKeeper:
    def __init__(self, store: LeaseStore, runs: Supervisor, batch: int = BATCH) -> None:
        self.store = store
        self.runs = runs
        self.batch = batch
        self.interval = store.lease_seconds / 3
        self._task: asyncio.Task[None] | None = None
        # Set when a round may find work at once (a notification, a claim that filled its batch).
        self.nudge = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._keep(), name="lease-keeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _keep(self) -> None:
        while True:
            try:
                full = await self.round()
            except Exception:
                # The database is away, say: the leases run out and others
                # take the runs over; this runner tries again next round.
                log.exception("lease round failed")
                full = False
            if not full:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.nudge.wait(), self.interval)
            self.nudge.clear()

    async def round(self) -> bool:
        """Renew, let go, take over; True when the claim filled its batch."""
        active = self.runs.active_ids()
        held = await self.store.renew_leases(active) if active else set()
        for run_id in active - held:
            log.warning("run %s: its lease was taken over; letting go of it", run_id)
            await self.runs.stop(run_id)
        claimed = await self.store.claim_expired(self.batch)
        for run in claimed:
            log.info("run %s: taking it over at epoch %d", run.run_id, run.epoch)
            self.runs.take_over(run)
        return len(claimed) == self.batch
