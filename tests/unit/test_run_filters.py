"""ListRuns filters: by status and by start time, checked before use."""

from __future__ import annotations

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from stepline import payloads
from stepline.v1 import events_pb2 as E
from stepline_runner.engine.errors import InvalidArgument
from stepline_runner.engine.run_filter import run_filter
from tests.support.runs import self_loop
from tests.support.stores import harness_on_both_stores
from tests.unit.asker import Asker, asking
from tests.unit.conftest import Harness
from tests.unit.countdown import Counter

__all__ = ["harness_on_both_stores"]  # every test here runs on SQLite and PostgreSQL


@pytest.fixture
async def mixed(harness: Harness) -> Harness:
    """Runs "done-1", "done-2" (completed) and "asking" (waiting for input)."""
    harness.host("svc", {"counter": Counter, "asker": Asker})
    await harness.runner.register_workflow(self_loop("count", "c", "counter").build())
    await harness.runner.register_workflow(asking())
    await harness.run("count", 1, "done-1")
    waiting = await harness.runner.start_run("ask", payloads.encode(1), "asking")
    async for batch in harness.runner.watch(waiting.run_id, follow_after_end=True):
        if any(e.status == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS for e in batch):
            break
    await harness.run("count", 1, "done-2")
    return harness


async def ids(harness: Harness, **filters: object) -> list[str]:
    runs, _ = await harness.runner.list_runs("", 0, "", **filters)  # type: ignore[arg-type]
    return [r.run_id for r in runs]


async def test_runs_filtered_by_status(mixed: Harness) -> None:
    assert await ids(mixed, statuses=[E.RUN_STATUS_COMPLETED]) == ["done-2", "done-1"]
    waiting = [E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS, E.RUN_STATUS_FAILED]
    assert await ids(mixed, statuses=waiting) == ["asking"]
    assert await ids(mixed, statuses=[E.RUN_STATUS_CANCELLED]) == []


async def test_runs_filtered_by_start_time_with_paging(mixed: Harness) -> None:
    asking = await mixed.get_run("asking")
    at = asking.created_at
    assert await ids(mixed, created_after=at) == ["done-2", "asking"]
    assert await ids(mixed, created_before=at) == ["done-1"]
    after_all = Timestamp(seconds=at.seconds + 3600)
    assert await ids(mixed, created_after=after_all) == []

    page, token = await mixed.runner.list_runs(
        "", 1, "", statuses=[E.RUN_STATUS_COMPLETED], created_before=after_all
    )
    rest, last = await mixed.runner.list_runs(
        "", 1, token, statuses=[E.RUN_STATUS_COMPLETED], created_before=after_all
    )
    assert [r.run_id for r in page + rest] == ["done-2", "done-1"]
    assert last == ""


@pytest.mark.parametrize(
    ("statuses", "after", "before", "message"),
    [
        ([E.RUN_STATUS_UNSPECIFIED], None, None, r"statuses\[0\]: 0 is not a run status"),
        ([E.RUN_STATUS_RUNNING, 99], None, None, r"statuses\[1\]: 99"),
        ([-5], None, None, "-5 is not a run status"),
        ([E.RUN_STATUS_RUNNING] * 17, None, None, "at most 16"),
        ([], Timestamp(seconds=10), Timestamp(seconds=10), "must be before"),
        ([], Timestamp(seconds=2**62), None, "created_after is not a valid timestamp"),
        ([], None, Timestamp(seconds=1, nanos=-1), "created_before is not a valid"),
        ([], None, Timestamp(nanos=1_000_000_000), "created_before is not a valid"),
    ],
)
def test_bad_filters_are_refused(
    statuses: list[int], after: Timestamp | None, before: Timestamp | None, message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message) as caught:
        run_filter(statuses, after, before)
    assert len(str(caught.value)) < 300


def test_a_huge_status_list_is_refused_without_quoting_it() -> None:
    with pytest.raises(InvalidArgument) as caught:
        run_filter([1] * 1_000_000, None, None)
    assert str(caught.value) == "statuses: at most 16 entries, got 1000000"
