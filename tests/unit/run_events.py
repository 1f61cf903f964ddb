"""Events of run "r" for the hub's and the watchers' tests."""

from __future__ import annotations

from stepline.v1 import events_pb2 as E


def custom(sequence: int) -> E.Event:
    return E.Event(run_id="r", sequence=sequence, kind=E.EVENT_KIND_CUSTOM)


def status(sequence: int, to: E.RunStatus) -> E.Event:
    """STATUS_CHANGED to `to`."""
    return E.Event(run_id="r", sequence=sequence, kind=E.EVENT_KIND_STATUS_CHANGED, status=to)


def ending(sequence: int) -> E.Event:
    return status(sequence, E.RUN_STATUS_COMPLETED)


def waiting_for_input(sequence: int) -> E.Event:
    return status(sequence, E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS)
