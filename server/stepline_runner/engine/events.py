"""Building events. Sequence numbers are assigned by the store at commit."""

from __future__ import annotations

import time
from typing import Any

from stepline.v1 import events_pb2

Kind = events_pb2.EventKind


def event(kind: Kind, superstep: int = 0, **fields: Any) -> events_pb2.Event:
    made = events_pb2.Event(kind=kind, superstep=superstep, **fields)
    # Set in place: a Timestamp built and copied in costs three times as much,
    # and a superstep makes four events or more.
    stamp = made.time
    stamp.seconds, stamp.nanos = divmod(time.time_ns(), 1_000_000_000)
    return made


def status_changed(status: events_pb2.RunStatus, superstep: int) -> events_pb2.Event:
    return event(events_pb2.EVENT_KIND_STATUS_CHANGED, superstep, status=status)


def by(actor: str, events: list[events_pb2.Event]) -> list[events_pb2.Event]:
    """The events of a control call (start, cancel, resume, fork, answer, move),
    stamped with the principal that made it ("" when the runner has no auth)."""
    for e in events:
        e.principal = actor
    return events
