"""`LeaseKeeper`: several runners on one database, each active run driven by
the one runner that holds its lease.

A runner leases the runs it creates or takes in hand (the shared store's
`create_run` and `claim_run` do it, with the runner's id and lease). This
keeper, one task per runner, every third of the lease:

- renews the leases of the runs this runner drives (`renew_leases`), and lets
  go of those another runner took over meanwhile (it stops their drivers;
  their next commit or executor call would be refused as stale anyway);
- takes over running runs whose lease expired (`claim_expired`: their owner
  died, or was paused or cut off past its lease), each at a new epoch,
  restoring their executors from the last checkpoint as after a restart.

A claim takes at most `batch` runs per round, so the runs of a runner that
died are spread over the live runners rather than all taken by the first to
look. With `max_runs` (`--max-runs N`) a runner drives at most N runs: it
claims only while it has room, and a run it would start driving beyond that
(one it starts, answers, resumes, forks or wakes) is committed as usual and
its lease released at once, so a runner with room claims it within a third
of its lease. `max_runs=0` serves the API and drives nothing.

A second task follows the other runners' commits (`committed_elsewhere`)
and wakes this runner's watchers of those runs, which then read the new
events from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection

from .hub import EventHub
from .shared import SharedStore
from .supervisor import Supervisor

log = logging.getLogger(__name__)

BATCH = 4


class LeaseKeeper:
    def __init__(
        self,
        store: SharedStore,
        runs: Supervisor,
        hub: EventHub,
        batch: int = BATCH,
        max_runs: int | None = None,
    ) -> None:
        self.store = store
        self.runs = runs
        self.hub = hub
        self.batch = batch
        self.max_runs = max_runs  # None: no cap
        self.interval = store.lease_seconds / 3
        self._tasks: list[asyncio.Task[None]] = []
        self._handing_on: set[asyncio.Task[None]] = set()
        runs.hand_on = self.hand_on

    def room(self) -> int | None:
        """How many more runs this runner may drive (None: no cap)."""
        if self.max_runs is None:
            return None
        return max(0, self.max_runs - len(self.runs.active_ids()))

    def hand_on(self, run_id: str) -> bool:
        """Whether the run, about to be driven here, goes to another runner
        instead (no room): its lease is released for one with room to claim."""
        if self.room() != 0:
            return False
        log.info(
            "run %s: no room here (max runs %s); left to another runner", run_id, self.max_runs
        )
        task = asyncio.create_task(self.release([run_id]), name=f"hand-on-{run_id}")
        self._handing_on.add(task)
        task.add_done_callback(self._handing_on.discard)
        return True

    def start(self) -> None:
        cap = "no cap" if self.max_runs is None else f"at most {self.max_runs} runs"
        log.info("sharing the database as runner %s (%s)", self.store.runner_id, cap)
        self._tasks = [
            asyncio.create_task(self._keep(), name="lease-keeper"),
            asyncio.create_task(self._follow(), name="commit-follower"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        # Releases under way are let finish: short, and they spare a lease's wait.
        await asyncio.gather(*self._tasks, *self._handing_on, return_exceptions=True)

    async def release(self, run_ids: Collection[str]) -> None:
        """Let other runners take those runs over now, not once the lease
        runs out (this runner stops cleanly); best effort."""
        try:
            await self.store.release_leases(run_ids)
        except Exception:
            log.exception("releasing the leases failed; they run out by themselves")

    async def _keep(self) -> None:
        while True:
            try:
                full = await self.round()
            except Exception:
                # The database is away, say: the leases run out and other
                # runners take the runs over; this one tries again next round.
                log.exception("lease round failed")
                full = False
            if not full:
                await asyncio.sleep(self.interval)  # the lease's heartbeat

    async def round(self) -> bool:
        """Renew, let go, take over; True when the claim filled its batch."""
        active = self.runs.active_ids()
        held = await self.store.renew_leases(active) if active else set()
        for run_id in active - held:
            log.warning("run %s: another runner took its lease over; letting go", run_id)
            await self.runs.stop(run_id)
        room = self.room()
        limit = self.batch if room is None else min(self.batch, room)
        claimed = await self.store.claim_expired(limit) if limit else []
        for run in claimed:
            log.info("run %s: taking it over at epoch %d", run.run_id, run.epoch)
            self.runs.recover(run, claimed=True)
        return len(claimed) == self.batch

    async def _follow(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            async for run_id in self.store.committed_elsewhere():
                if run_id:
                    self.hub.wake(run_id)
                else:
                    self.hub.wake_all()
