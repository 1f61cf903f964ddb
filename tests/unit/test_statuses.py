"""The run status vocabulary: running, terminal, and the settled-status rule."""

from __future__ import annotations

import pytest

from stepline.v1 import events_pb2 as E
from stepline_runner import statuses


@pytest.mark.parametrize(
    ("has_work", "has_requests", "expected"),
    [
        (True, False, E.RUN_STATUS_RUNNING),
        (True, True, E.RUN_STATUS_RUNNING_WITH_PENDING_REQUESTS),
        (False, True, E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS),
        (False, False, E.RUN_STATUS_COMPLETED),
    ],
)
def test_settled_status(has_work: bool, has_requests: bool, expected: E.RunStatus) -> None:
    assert statuses.settled(has_work, has_requests) == expected


def test_every_status_is_running_terminal_or_waiting() -> None:
    named = set(E.RunStatus.values()) - {E.RUN_STATUS_UNSPECIFIED}
    waiting = statuses.WAITING | {statuses.QUEUED}
    assert named == statuses.RUNNING | statuses.TERMINAL | waiting
    assert not statuses.RUNNING & statuses.TERMINAL
    assert not statuses.WAITING & (statuses.RUNNING | statuses.TERMINAL)
    with_requests = {s for s in named if E.RunStatus.Name(s).endswith("_PENDING_REQUESTS")}
    assert with_requests == statuses.WITH_OPEN_REQUESTS


def test_only_a_change_to_a_terminal_status_ends_a_run() -> None:
    changed = E.EVENT_KIND_STATUS_CHANGED
    assert statuses.ends_run(E.Event(kind=changed, status=E.RUN_STATUS_CANCELLED))
    assert not statuses.ends_run(E.Event(kind=changed, status=E.RUN_STATUS_RUNNING))
    # An output carrying a stale status field is not an end.
    assert not statuses.ends_run(E.Event(kind=E.EVENT_KIND_OUTPUT, status=E.RUN_STATUS_FAILED))
