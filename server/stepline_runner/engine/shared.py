"""`SharedStore`: what a store several runners share adds to `Store`
(PostgreSQL with --lease-seconds): leases, the runners alive and their
duties, and news of the others' commits. engine/leases.py says how a runner
uses them."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Collection
from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable

from stepline.v1 import runner_pb2

from ..store import News

log = logging.getLogger(__name__)


@runtime_checkable
class SharedStore(Protocol):
    """What a store shared by several runners adds (PostgreSQL)."""

    lease_seconds: float
    runner_id: str  # this runner's, as the runs' `owner` names it

    async def renew_leases(self, run_ids: Collection[str]) -> set[str]:
        """Extend this runner's leases of those runs; the ids it still holds."""
        ...

    async def claim_expired(self, limit: int) -> list[runner_pb2.Run]:
        """Take over at most `limit` running runs whose lease expired (or that
        nobody drove yet), each at a new epoch (in the returned runs), never
        more than this runner's fair share."""
        ...

    async def release_leases(self, run_ids: Collection[str]) -> None:
        """End this runner's leases of those runs now."""
        ...

    async def held_elsewhere(self, run_id: str) -> bool:
        """Another runner holds a live lease of the running run."""
        ...

    def committed_elsewhere(self) -> AsyncIterator[News]:
        """Other runners' commits (and schedule changes), as they do them;
        `RECONNECTED` when some may have been missed (after a reconnection)."""
        ...

    async def schedule_changed(self, schedule_id: str) -> None:
        """Tell the other runners the schedule was created, changed or deleted."""
        ...

    async def heartbeat(self) -> None:
        """This runner is alive for a lease more."""
        ...

    async def leave(self) -> None:
        """This runner stops: not alive any more, its duties free."""
        ...

    async def hand_out(self, run_id: str) -> bool:
        """Leave the run this runner just created to whichever runner claims
        it, if this one holds more than its fair share; True if so."""
        ...

    def admitting(self, workflow_id: str) -> AbstractAsyncContextManager[None]:
        """Held while a runner counts the workflow's runs and starts or
        queues one: one decision across runners (max_concurrent_runs)."""
        ...

    async def hold_duty(self, duty: str) -> bool:
        """Take or keep `duty` for a lease; False while another runner has it."""
        ...


def shared(store: object) -> SharedStore | None:
    """The store as one several runners share, if it is (leases on)."""
    if isinstance(store, SharedStore) and store.lease_seconds > 0:
        return store
    return None


async def keeps_created(shared: SharedStore | None, run_id: str) -> bool:
    """Whether a runner drives the run it just created: yes, unless runners
    share the database (`shared`) and it holds more than its fair share of
    the running runs (then another claims it, see leases.py)."""
    if shared is None:
        return True
    try:
        return not await shared.hand_out(run_id)
    except Exception as exc:
        # Handed out or not, unknown: never drive it twice. Its lease runs
        # out, and a runner (this one, maybe) claims it then.
        log.warning("run %s: handing it out failed (%s); a runner claims it", run_id, exc)
        return False
