"""Values from the command line: JSON inline or from a file (`@FILE`, `@-`
for stdin), run statuses by name, and times as ISO 8601 or an age ("90m")."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from stepline.v1 import events_pb2

from ..limits import MAX_MESSAGE_BYTES
from .context import usage_error

_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def json_argument(text: str, option: str) -> Any:
    """The JSON value `text` holds, or the file `@PATH` holds; malformed
    JSON is a usage error that says where, without echoing the input."""
    source = "the value"
    if text.startswith("@"):
        path = text[1:]
        source = "standard input" if path == "-" else path
        text = _read_bounded(path, source, option)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        usage_error(
            f"{option}: {source} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        )
    except RecursionError:
        usage_error(f"{option}: {source} nests its JSON too deeply")


def _read_bounded(path: str, source: str, option: str) -> str:
    """The text of the file (or stdin), refused past what one gRPC message can
    carry: `@/dev/zero` must not fill the memory."""
    try:
        if path == "-":
            text = sys.stdin.read(MAX_MESSAGE_BYTES + 1)
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read(MAX_MESSAGE_BYTES + 1)
    except (OSError, UnicodeDecodeError) as exc:
        usage_error(f"{option}: cannot read {source}: {getattr(exc, 'strerror', exc)}")
    if len(text) > MAX_MESSAGE_BYTES:
        usage_error(
            f"{option}: {source} is over {MAX_MESSAGE_BYTES} bytes, more than one call takes"
        )
    return text


def run_status(name: str) -> events_pb2.RunStatus:
    """`completed`, `FAILED`, `idle_with_pending_requests`, ... as a RunStatus."""
    return cast(events_pb2.RunStatus, _enum_value(events_pb2.RunStatus, name, "--status"))


def event_kind(name: str) -> events_pb2.EventKind:
    """`output`, `EXECUTOR_FAILED`, ... as an EventKind."""
    return cast(events_pb2.EventKind, _enum_value(events_pb2.EventKind, name, "--kind"))


def _enum_value(enum: EnumTypeWrapper, name: str, option: str) -> int:
    values = enum.DESCRIPTOR.values_by_name
    prefix = next(iter(values)).removesuffix("UNSPECIFIED")  # "RUN_STATUS_"
    key = prefix + name.strip().upper().replace("-", "_").removeprefix(prefix)
    if key == prefix + "UNSPECIFIED" or key not in values:
        names = ", ".join(
            n.removeprefix(prefix).lower() for n in values if n != prefix + "UNSPECIFIED"
        )
        usage_error(f"{option}: {name[:40]!r} is not one of {names}")
    return int(values[key].number)


def moment(text: str, option: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time (UTC unless it says otherwise), or an age before `now`:
    `45s`, `90m`, `12h`, `7d`."""
    age = _AGE.match(text.strip())
    if age:
        now = now or datetime.now(UTC)
        try:
            return now - timedelta(seconds=float(age.group(1)) * _UNITS[age.group(2)])
        except OverflowError:
            usage_error(f"{option}: {text[:40]!r} reaches back before the year 1")
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        usage_error(
            f"{option}: {text[:40]!r} is neither an ISO 8601 time (2026-12-01T10:00:00Z) "
            "nor an age (45s, 90m, 12h, 7d)"
        )
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def outcome_code(status: int) -> int:
    """The exit code a run's status stands for: 1 failed or cancelled, else 0."""
    ended_badly = (events_pb2.RUN_STATUS_FAILED, events_pb2.RUN_STATUS_CANCELLED)
    return 1 if status in ended_badly else 0
