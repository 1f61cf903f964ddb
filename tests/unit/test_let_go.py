"""A runner that lets go of a run (superseded, its lease taken over, or the
run handed to another runner at its start) keeps nothing of it: its run log
forgets the last sequence it published of the run (else one entry per such
run for the runner's life)."""

from __future__ import annotations

from collections.abc import Collection
from typing import cast

from stepline import payloads
from stepline.testing import InProcessRunner
from stepline.v1 import runner_pb2
from stepline_runner.engine.leases import LeaseKeeper
from stepline_runner.engine.shared import SharedStore
from tests.support.stores import harness_on_both_stores
from tests.unit.asker import Asker, asking
from tests.unit.gated import Stepper, released, stepping

__all__ = ["harness_on_both_stores"]  # every test here runs on SQLite and PostgreSQL


def published(harness: InProcessRunner) -> dict[str, int]:
    return harness.runner.log._published


async def test_a_superseded_driver_lets_go_and_keeps_no_record(harness: InProcessRunner) -> None:
    _, run = await stepping(harness)
    assert run.run_id in published(harness)  # its first events, published here
    assert await harness.store.claim_run(run.run_id) == 2  # another runner took it over

    await released(harness, run.run_id)  # its next commit refused as stale: let go

    assert run.run_id not in published(harness)


class LeasesTaken:
    """A database shared with a runner that took every lease over."""

    lease_seconds = 3.0
    runner_id = "this"

    async def heartbeat(self) -> None:
        pass

    async def renew_leases(self, run_ids: Collection[str]) -> set[str]:
        return set()

    async def claim_expired(self, limit: int) -> list[runner_pb2.Run]:
        return []

    async def hold_duty(self, duty: str) -> bool:
        return False


async def test_a_run_whose_lease_another_runner_took_leaves_no_record(
    harness: InProcessRunner,
) -> None:
    _, run = await stepping(harness)
    keeper = LeaseKeeper(cast(SharedStore, LeasesTaken()), harness.runner.runs, harness.runner.hub)
    try:
        await keeper.round()
    finally:
        Stepper.release.set()

    assert not harness.runner.runs.is_active(run.run_id)  # let go
    assert run.run_id not in published(harness)


async def test_a_run_handed_to_another_runner_at_its_start_leaves_no_record(
    harness: InProcessRunner,
) -> None:
    harness.host("svc", {"asker": Asker})
    await harness.runner.register_workflow(asking())
    harness.runner.runs.hand_on = lambda run_id: True  # no room here

    run = await harness.runner.start_run("ask", payloads.encode(1), "r1")

    assert not harness.runner.runs.is_active(run.run_id)
    assert published(harness) == {}
