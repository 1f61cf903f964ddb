"""A runner back after more than a lease away from the database (it was
down, for every runner perhaps, or this runner was paused) claims nothing in
its first round back: every lease ran out meanwhile, and the runners that
are back too renew theirs within a round; it claims from the next round on.
Its clock is the test's: deterministic, no waiting."""

from __future__ import annotations

from typing import cast

import pytest

from stepline.testing import InProcessRunner
from stepline.v1 import runner_pb2
from stepline_runner.engine.leases import LeaseKeeper
from stepline_runner.engine.shared import SharedStore

LEASE = 3.0


class Database:
    """A shared database that can be away, recording the claims asked of it."""

    lease_seconds = LEASE
    runner_id = "this"

    def __init__(self) -> None:
        self.away = False
        self.claims: list[int] = []

    async def heartbeat(self) -> None:
        if self.away:
            raise OSError("the database is away")

    async def claim_expired(self, limit: int) -> list[runner_pb2.Run]:
        self.claims.append(limit)
        return []

    async def hold_duty(self, duty: str) -> bool:
        return False


async def test_a_runner_back_after_more_than_a_lease_away_claims_from_its_next_round(
    harness: InProcessRunner,
) -> None:
    now = 0.0
    database = Database()
    keeper = LeaseKeeper(
        cast(SharedStore, database), harness.runner.runs, harness.runner.hub, clock=lambda: now
    )
    await keeper.round()
    now += LEASE / 3
    await keeper.round()
    assert database.claims == [4, 4]  # in touch: every round claims

    database.away = True
    for _ in range(4):  # rounds fail for more than a lease
        now += LEASE / 3
        with pytest.raises(OSError):
            await keeper.round()
    database.away = False
    now += LEASE / 3
    await keeper.round()
    assert database.claims == [4, 4]  # back: renews and lets go only
    now += LEASE / 3
    await keeper.round()
    assert database.claims == [4, 4, 4]


async def test_a_round_failing_for_less_than_a_lease_does_not_hold_claims_back(
    harness: InProcessRunner,
) -> None:
    now = 0.0
    database = Database()
    keeper = LeaseKeeper(
        cast(SharedStore, database), harness.runner.runs, harness.runner.hub, clock=lambda: now
    )
    await keeper.round()
    database.away = True
    now += LEASE / 3
    with pytest.raises(OSError):
        await keeper.round()
    database.away = False
    now += LEASE / 3
    await keeper.round()
    assert database.claims == [4, 4]
