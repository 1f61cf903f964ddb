"""Slots freed while the workflow's admit task has not counted yet are counted
by it (no task, no reads of their own); one freed after it counted gets a
new one. A run of a workflow without a limit takes no admission lock."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from stepline_runner.engine.admission import Admission


class CountingStore:
    """Counts the admit task's reads; `hold` keeps the read of the workflow waiting."""

    def __init__(self) -> None:
        self.reads = 0
        self.hold: asyncio.Event | None = None
        self.reading = asyncio.Event()

    async def get_workflow(self, workflow_id: str) -> Any:
        self.reads += 1
        self.reading.set()
        if self.hold is not None:
            await self.hold.wait()
        return None  # gone: nothing to start


def admission(store: CountingStore) -> Admission:
    runs: Any = SimpleNamespace(shared=None)
    return Admission(store, runs, workflows=None, log=None)  # type: ignore[arg-type]


async def settled(admission: Admission) -> None:
    while admission._tasks:
        await asyncio.gather(*admission._tasks)


async def test_slots_freed_before_the_admit_counts_share_its_count() -> None:
    store = CountingStore()
    admission_ = admission(store)
    async with admission_.lock("w"):  # a start of a limited workflow holds it
        for _ in range(50):  # fifty of its runs end meanwhile
            admission_.slot_freed("w")
        await asyncio.sleep(0)
        assert len(admission_._tasks) == 1
    await settled(admission_)

    assert store.reads == 1  # before: fifty tasks, fifty reads


async def test_a_slot_freed_after_the_admit_counted_gets_a_count_of_its_own() -> None:
    store = CountingStore()
    store.hold = asyncio.Event()
    admission_ = admission(store)
    admission_.slot_freed("w")
    await store.reading.wait()  # counting now: it may miss what ends after
    admission_.slot_freed("w")
    admission_.slot_freed("w")
    store.hold.set()
    await settled(admission_)

    assert store.reads == 2


async def test_starts_of_a_workflow_without_a_limit_take_no_admission_lock() -> None:
    admission_ = admission(CountingStore())
    async with admission_.lock("w"):  # held: a limited start would wait
        async with asyncio.timeout(5):  # a guard against hanging, not a measure
            async with admission_.lock("w", limited=False):
                pass
