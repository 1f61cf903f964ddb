"""The filters of a run listing, checked: defined statuses, valid times in order."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.timestamp_pb2 import Timestamp

from stepline.v1 import events_pb2

from ..store import RunFilter
from .errors import InvalidArgument, Reason

MAX_STATUSES = 16
# What google.protobuf.Timestamp allows: 0001-01-01 to 9999-12-31.
_MIN_SECONDS, _MAX_SECONDS = -62_135_596_800, 253_402_300_799
_STATUSES = {v for v in events_pb2.RunStatus.values() if v != events_pb2.RUN_STATUS_UNSPECIFIED}


def run_filter(
    statuses: Sequence[int],
    created_after: Timestamp | None,
    created_before: Timestamp | None,
    namespace: str | None = None,
) -> RunFilter:
    if len(statuses) > MAX_STATUSES:
        raise InvalidArgument(
            f"statuses: at most {MAX_STATUSES} entries, got {len(statuses)}",
            reason=Reason.INVALID_RUN_FILTER,
            context={"field": "statuses"},
        )
    for index, status in enumerate(statuses):
        if status not in _STATUSES:
            names = ", ".join(events_pb2.RunStatus.Name(s) for s in sorted(_STATUSES))
            raise InvalidArgument(
                f"statuses[{index}]: {status} is not a run status; use {names}",
                reason=Reason.INVALID_RUN_FILTER,
                context={"field": f"statuses[{index}]"},
            )
    after = _seconds(created_after, "created_after")
    before = _seconds(created_before, "created_before")
    if after is not None and before is not None and after >= before:
        raise InvalidArgument(
            "created_after must be before created_before",
            reason=Reason.INVALID_RUN_FILTER,
            context={"field": "created_after"},
        )
    return RunFilter(frozenset(statuses), after, before, namespace)


def _seconds(ts: Timestamp | None, field: str) -> float | None:
    if ts is None:
        return None
    if not _MIN_SECONDS <= ts.seconds <= _MAX_SECONDS or not 0 <= ts.nanos < 1_000_000_000:
        raise InvalidArgument(
            f"{field} is not a valid timestamp (seconds {ts.seconds}, nanos {ts.nanos})",
            reason=Reason.INVALID_RUN_FILTER,
            context={"field": field},
        )
    return ts.seconds + ts.nanos / 1e9
