"""`SharedStore`: what a store several runners share adds to `Store`
(PostgreSQL with --lease-seconds): leases, and news of the others' commits.
engine/leases.py says how a runner uses them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from typing import Protocol, runtime_checkable

from stepline.v1 import runner_pb2


@runtime_checkable
class SharedStore(Protocol):
    """What a store shared by several runners adds (PostgreSQL)."""

    lease_seconds: float
    runner_id: str  # this runner's, as the runs' `owner` names it

    async def renew_leases(self, run_ids: Collection[str]) -> set[str]:
        """Extend this runner's leases of those runs; the ids it still holds."""
        ...

    async def claim_expired(self, limit: int) -> list[runner_pb2.Run]:
        """Take over at most `limit` running runs whose lease expired, each at
        a new epoch (in the returned runs)."""
        ...

    async def release_leases(self, run_ids: Collection[str]) -> None:
        """End this runner's leases of those runs now."""
        ...

    async def held_elsewhere(self, run_id: str) -> bool:
        """Another runner holds a live lease of the running run."""
        ...

    def committed_elsewhere(self) -> AsyncIterator[str]:
        """Ids of runs other runners commit to, as they do; "" when some may
        have been missed (after a reconnection)."""
        ...


def shared(store: object) -> SharedStore | None:
    """The store as one several runners share, if it is (leases on)."""
    if isinstance(store, SharedStore) and store.lease_seconds > 0:
        return store
    return None
