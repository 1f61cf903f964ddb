"""Printing results: tables for people (colours only on a terminal), JSON for
scripts (`--json`: one document, or JSON Lines for a stream).

Protobuf messages become JSON with their proto field names; payloads are
shown decoded (`payload_json`) rather than as base64 bytes.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console
from rich.table import Table
from rich.text import Text

from stepline.v1 import payload_pb2

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON for scripts (JSON Lines for streams).")
]

# Wide enough that tables piped to a file or a test are not wrapped.
_PIPE_WIDTH = 200


def _console(stream: Any) -> Console:
    width = None if stream.isatty() or os.environ.get("COLUMNS") else _PIPE_WIDTH
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


def console() -> Console:
    """Standard output, looked up at each call (tests swap sys.stdout)."""
    return _console(sys.stdout)


def error_console() -> Console:
    return _console(sys.stderr)


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[Any], str]
    # A rich style for the cell (colour shows only on a terminal).
    style: Callable[[str], str] | None = None

    def cell(self, row: Any) -> Text:
        text = self.value(row)
        # Text, not a str: ids and messages are never read as rich markup.
        return Text(text, style=self.style(text) if self.style else "")


def print_table(rows: Iterable[Any], columns: Sequence[Column]) -> None:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column.header, overflow="fold")
    for row in rows:
        table.add_row(*(column.cell(row) for column in columns))
    console().print(table)


def print_records(rows: Sequence[Message], columns: Sequence[Column], as_json: bool) -> None:
    """A list command's answer: a table, or with --json a list of records."""
    if as_json:
        print_json(records(rows))
    else:
        print_table(rows, columns)


def print_fields(fields: Iterable[tuple[str, str]]) -> None:
    """A record as `name  value` lines, the values aligned."""
    pairs = list(fields)
    width = max((len(name) for name, _ in pairs), default=0)
    screen = console()
    for name, value in pairs:
        screen.print(Text.assemble((name.ljust(width), "bold"), "  ", value), soft_wrap=True)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")


def print_json_line(value: Any) -> None:
    sys.stdout.write(json.dumps(value, sort_keys=True, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def print_text(text: str, style: str = "") -> None:
    # soft_wrap: a long line stays one line in a pipe (the terminal wraps it).
    console().print(text, style=style or None, markup=False, soft_wrap=True)


def message_json(message: Message) -> dict[str, Any]:
    """A protobuf message as JSON, with every payload in it decoded and 64-bit
    integers as numbers (proto's JSON mapping makes them strings)."""
    value = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=False
    )
    _decode_payloads(message, value)
    return value


_INT64_TYPES = (FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64)


def _decode_payloads(message: Message, value: dict[str, Any]) -> None:
    for field, field_value in message.ListFields():
        name = field.name
        if name not in value:
            continue
        if field.cpp_type in _INT64_TYPES:
            value[name] = [int(v) for v in value[name]] if field.is_repeated else int(value[name])
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            entry_value = field.message_type.fields_by_name["value"]
            if entry_value.message_type is not None:
                for key, item in field_value.items():
                    value[name][str(key)] = _sub_json(item, value[name][str(key)])
        elif field.is_repeated:
            value[name] = [_sub_json(m, v) for m, v in zip(field_value, value[name], strict=True)]
        else:
            value[name] = _sub_json(field_value, value[name])


def _sub_json(message: Message, value: Any) -> Any:
    if isinstance(message, payload_pb2.Payload):
        return payload_json(message)
    if isinstance(value, dict):
        _decode_payloads(message, value)
    return value


def payload_json(payload: payload_pb2.Payload) -> dict[str, Any]:
    """`{"type_name", "value"}` for a JSON payload; others keep base64 `data`."""
    result: dict[str, Any] = {"type_name": payload.type_name}
    if payload.content_type in ("", "application/json"):
        try:
            result["value"] = json.loads(payload.data) if payload.data else None
            return result
        except (ValueError, RecursionError):  # shown as its bytes instead
            pass
    result["content_type"] = payload.content_type
    result["data"] = json_format.MessageToDict(payload).get("data", "")
    return result


def payload_text(payload: payload_pb2.Payload, limit: int = 80) -> str:
    """A payload on one line for a table: its JSON, cut at `limit` characters."""
    decoded = payload_json(payload)
    if "value" in decoded:
        text = json.dumps(decoded["value"], sort_keys=True, separators=(",", ":"))
    else:
        text = f"<{len(payload.data)} bytes {payload.content_type or 'application/json'}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def timestamp_text(ts: Timestamp) -> str:
    """An RFC 3339 UTC time to the second, or '-' when unset."""
    if not ts.seconds and not ts.nanos:
        return "-"
    moment = datetime.fromtimestamp(ts.seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def enum_text(name: str, prefix: str) -> str:
    """`RUN_STATUS_COMPLETED` -> `COMPLETED`."""
    return name.removeprefix(prefix)


def records(messages: Iterable[Message]) -> list[Mapping[str, Any]]:
    return [message_json(m) for m in messages]
