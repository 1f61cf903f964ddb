"""`LeaseKeeper`: several runners on one database, each active run driven by
the one runner that holds its lease.

A runner leases the runs it creates or takes in hand (the shared store's
`create_run` and `claim_run` do it, with the runner's id and lease). This
keeper, one task per runner, every third of the lease:

- says this runner is alive (`heartbeat`): the live runners share the runs;
- renews the leases of the runs this runner drives (`renew_leases`), and lets
  go of those another runner took over meanwhile (it stops their drivers;
  their next commit or executor call would be refused as stale anyway);
- takes over running runs whose lease expired (`claim_expired`: their owner
  died, or was paused or cut off past its lease), each at a new epoch,
  restoring their executors from the last checkpoint as after a restart, and
  runs another runner created for any runner to drive (`hand_out`), at epoch
  1, from their start; never more than its fair share of the running runs;
- keeps or takes the duty of the leader (`hold_duty`): one runner at a time
  fires the schedules and sweeps finished runs away.

A runner back after more than a lease out of touch with the database (the
database was away, for every runner perhaps, or this one was paused) renews
and lets go first and claims nothing that round: every lease ran out
meanwhile, and the other runners, back too, renew theirs within a round;
claiming at once would take runs from live runners (epochs keep that safe,
but each such run is stopped, restored and driven again for nothing).

A claim takes at most `batch` runs per round (and rounds follow each other
while they fill it), so the runs of a runner that died are spread over the
live runners rather than all taken by the first to look. With `max_runs`
(`--max-runs N`) a runner drives at most N runs: it claims only while it has
room, and a run it would start driving beyond that (one it starts, answers,
resumes, forks or wakes) is committed as usual and its lease released at
once, announced, so a runner with room claims it at once (within a third of
its lease if the news is missed).
`max_runs=0` serves the API and drives nothing.

A second task follows the other runners' commits (`committed_elsewhere`):
it wakes this runner's watchers of those runs, which then read the new
events from the database, hands them to the watchers of all runs
(relay.py), and starts a round at once when a run waits for a runner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection

from ..store import Committed, News, ScheduleChanged
from .hub import EventHub
from .relay import Relay
from .shared import SharedStore
from .supervisor import Supervisor

log = logging.getLogger(__name__)

BATCH = 4
LEADER = "leader"  # the duty of firing schedules and sweeping finished runs


class LeaseKeeper:
    def __init__(
        self,
        store: SharedStore,
        runs: Supervisor,
        hub: EventHub,
        batch: int = BATCH,
        max_runs: int | None = None,
        on_lead: Callable[[], None] = lambda: None,
        on_schedule: Callable[[str], None] = lambda schedule_id: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`on_lead` is called when this runner becomes the leader,
        `on_schedule` when another runner changed a schedule."""
        self._clock = clock
        self._in_touch = clock()  # when the last round reached the database
        self.store = store
        self.runs = runs
        self.hub = hub
        self.batch = batch
        self.max_runs = max_runs  # None: no cap
        self.interval = store.lease_seconds / 3
        self.relay = Relay(runs.store, hub)
        hub.relay = self.relay
        self._on_lead = on_lead
        self._on_schedule = on_schedule
        self._leader_until = 0.0  # this runner's clock: how long its duty surely lasts
        self._poked = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._handing_on: set[asyncio.Task[None]] = set()
        runs.hand_on = self.hand_on
        runs.full = lambda: self.room() == 0

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
        await self.relay.close()

    def leading(self) -> bool:
        """Whether this runner holds the leader's duty now. By its own clock,
        which runs on while the process is paused: one that wakes past its
        lease knows it may have lost the duty before the database says so."""
        return self._clock() < self._leader_until

    async def release(self, run_ids: Collection[str], leaving: bool = False) -> None:
        """Let other runners take those runs (and, `leaving`: this runner
        stops cleanly, its duties) over now, not once the lease runs out;
        best effort."""
        try:
            await self.store.release_leases(run_ids)
            if leaving:
                await self.store.leave()
        except Exception:
            log.exception("releasing the leases failed; they run out by themselves")

    async def _keep(self) -> None:
        while True:
            self._poked.clear()  # a poke during the round starts the next at once
            try:
                full = await self.round()
            except Exception:
                # The database is away, say: the leases run out and other
                # runners take the runs over; this one tries again next round.
                log.exception("lease round failed")
                full = False
            if not full:
                # The lease's heartbeat, or at once when a run waits for a runner.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.interval):
                        await self._poked.wait()

    async def round(self) -> bool:
        """Live on, renew, let go, take over, lead; True when the claim filled
        its batch."""
        began = self._clock()
        if self.max_runs != 0:  # one that drives nothing takes no share
            await self.store.heartbeat()
        away = began - self._in_touch
        back = away > self.store.lease_seconds
        active = self.runs.active_ids()
        held = await self.store.renew_leases(active) if active else set()
        for run_id in active - held:
            log.warning("run %s: another runner took its lease over; letting go", run_id)
            await self.runs.stop(run_id)
            self.runs.log.forget(run_id)
        room = self.room()
        limit = self.batch if room is None else min(self.batch, room)
        if back:
            log.warning("back after %.1f s away from the database: claiming from next round", away)
            limit = 0
        claimed = await self.store.claim_expired(limit) if limit else []
        for run in claimed:
            log.info("run %s: taking it over at epoch %d", run.run_id, run.epoch)
            self.runs.recover(run, claimed=True)
        await self._lead(began)
        self._in_touch = began
        return len(claimed) == self.batch

    async def _lead(self, began: float) -> None:
        was = self.leading()
        if await self.store.hold_duty(LEADER):
            # Counted from before the round: the duty's lease began no earlier.
            self._leader_until = began + self.store.lease_seconds
            if not was:
                log.info("leading: this runner fires the schedules now")
                self._on_lead()
        else:
            self._leader_until = 0.0

    async def _follow(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            async for news in self.store.committed_elsewhere():
                self._heard(news)

    def _heard(self, news: News) -> None:
        if isinstance(news, ScheduleChanged):
            self._on_schedule(news.schedule_id)
            return
        self._committed(news)

    def _committed(self, news: Committed) -> None:
        if news.run_id:
            self.hub.heard(news.run_id)
        else:
            self.hub.wake_all()
        self.relay.committed(news)
        if news.unowned or not news.run_id:
            self._poked.set()  # a run waits for a runner (or may: news was missed)
        if not news.run_id:
            self._on_schedule("")  # schedule changes may have been missed too
