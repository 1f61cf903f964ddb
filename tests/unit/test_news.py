"""What another runner's notification says, read without trusting it."""

from __future__ import annotations

import pytest

from stepline_runner.store.news import PAYLOAD_LENGTH, Committed, ScheduleChanged, parse

ME = "a" * 32
OTHER = "b" * 32


def test_a_commit_a_run_handed_out_and_a_schedule_change_are_read() -> None:
    assert parse(f"{OTHER} 7 c run-1", ME) == Committed("run-1", 7)
    assert parse(f"{OTHER} 1 n ns/run with spaces", ME) == Committed(
        "ns/run with spaces", 1, unowned=True
    )
    assert parse(f"{OTHER} 0 s nightly", ME) == ScheduleChanged("nightly")


@pytest.mark.parametrize(
    "payload",
    [
        f"{ME} 7 c run-1",  # this runner's own
        "",
        "hello",
        f"{OTHER} 7 x run-1",  # no such flag
        f"{OTHER} -1 c run-1",
        f"{OTHER} ² c run-1",  # a digit to Python, not to int()
        f"{OTHER} {'9' * 19} c run-1",  # beyond any sequence
        f"{OTHER} 7 c ",  # no run
        f"{OTHER} 7 c " + "r" * PAYLOAD_LENGTH,  # longer than any runner sends
    ],
)
def test_anything_else_is_ignored(payload: str) -> None:
    assert parse(payload, ME) is None
