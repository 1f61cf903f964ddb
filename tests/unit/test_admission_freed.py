"""Slots freed while the workflow's admit task has not counted yet are counted
by it (no task, no reads of their own); one freed after it counted gets a
new one. A run of a workflow without a limit takes no admission lock; once
its latest version is known to have none and no run queued (no other runner
on the database), its runs' ends count nothing until a version is registered
or a run queued (a fork keeps its source's limited version)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from stepline.v1 import workflow_pb2
from stepline_runner.engine.admission import QUEUED_ONLY, Admission


class CountingStore:
    """Counts the admit task's reads; `hold` keeps the read of the workflow
    waiting. Without `limit` the workflow is gone: nothing to start."""

    def __init__(self, limit: int | None = None) -> None:
        self.reads = 0
        self.hold: asyncio.Event | None = None
        self.reading = asyncio.Event()
        self.limit = limit
        self.queued = 0

    async def get_workflow(self, workflow_id: str) -> Any:
        self.reads += 1
        self.reading.set()
        if self.hold is not None:
            await self.hold.wait()
        if self.limit is None:
            return None
        return SimpleNamespace(
            definition=workflow_pb2.WorkflowDefinition(
                workflow_id=workflow_id, max_concurrent_runs=self.limit
            )
        )

    async def count_runs(self, workflow_id: str, statuses: Any) -> int:
        return self.queued if statuses == QUEUED_ONLY else 1


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
        assert len(admission_._tasks) == 1  # one admit task, which has not counted yet
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


async def ended_runs(admission: Admission, count: int) -> None:
    for _ in range(count):
        admission.slot_freed("w")
        await settled(admission)


async def test_runs_of_a_workflow_known_without_limit_or_queue_end_uncounted() -> None:
    store = CountingStore(limit=0)
    admission_ = admission(store)
    await ended_runs(admission_, 5)
    assert store.reads == 1  # the first end found no limit and no queue

    admission_.limit_changed("w")  # a new version: its limit is read again
    await settled(admission_)
    await ended_runs(admission_, 5)
    assert store.reads == 2


async def test_a_run_queued_under_a_limited_version_makes_ends_count_again() -> None:
    store = CountingStore(limit=0)
    admission_ = admission(store)
    await ended_runs(admission_, 2)
    assert store.reads == 1

    # A fork of a run pinned to a version with a limit of 1, which is full.
    pinned = workflow_pb2.WorkflowDefinition(workflow_id="w", max_concurrent_runs=1)
    fork = SimpleNamespace(run=SimpleNamespace(status=0), events=[None])
    assert await admission_.hold_back(fork, pinned)  # type: ignore[arg-type]
    store.queued = 1
    await ended_runs(admission_, 1)
    assert store.reads == 2  # the end is counted: the queued fork may start


async def test_a_shared_database_counts_every_end() -> None:
    store = CountingStore(limit=0)
    admission_ = admission(store)
    admission_.share()  # other runners register versions and queue runs too
    await ended_runs(admission_, 3)

    assert store.reads == 3
