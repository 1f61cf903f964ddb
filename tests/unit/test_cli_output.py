"""The pure formatting of the `stepline` command: JSON of messages with their
payloads decoded, one-line payloads, times, markup-safe table cells."""

from __future__ import annotations

import json

from google.protobuf.timestamp_pb2 import Timestamp

from stepline import payloads
from stepline.cli import output
from stepline.v1 import events_pb2, payload_pb2, runner_pb2


def test_message_json_decodes_payloads_at_any_depth() -> None:
    event = events_pb2.Event(
        kind=events_pb2.EVENT_KIND_OUTPUT,
        data=payloads.encode({"n": 1}),
        request=payload_pb2.InputRequest(request_id="r1", data=payloads.encode("why?")),
    )
    content = runner_pb2.CheckpointContent(
        executor_states={"a": payloads.encode([1, 2])},
        pending_messages=[payload_pb2.Message(target_id="b", payload=payloads.encode(True))],
    )
    as_json = output.message_json(event)
    assert as_json["kind"] == "EVENT_KIND_OUTPUT"
    assert as_json["data"] == {"type_name": "object", "value": {"n": 1}}
    assert as_json["request"]["data"] == {"type_name": "string", "value": "why?"}
    content_json = output.message_json(content)
    assert content_json["executor_states"]["a"] == {"type_name": "array", "value": [1, 2]}
    assert content_json["pending_messages"][0]["payload"]["value"] is True
    json.dumps(as_json)  # and it is JSON


def test_a_binary_payload_keeps_its_bytes_as_base64() -> None:
    payload = payload_pb2.Payload(
        type_name="x.Y", content_type="application/x-protobuf", data=b"\x00\xff"
    )
    assert output.payload_json(payload) == {
        "type_name": "x.Y",
        "content_type": "application/x-protobuf",
        "data": "AP8=",
    }
    assert output.payload_text(payload) == "<2 bytes application/x-protobuf>"


def test_payload_text_is_one_line_cut_at_the_limit() -> None:
    text = output.payload_text(payloads.encode({"k": "v" * 100}), limit=20)
    assert len(text) == 20 and text.endswith("…") and "\n" not in text


def test_timestamps_are_utc_seconds_and_unset_is_a_dash() -> None:
    assert output.timestamp_text(Timestamp()) == "-"
    assert output.timestamp_text(Timestamp(seconds=86400 * 365, nanos=5)) == "1971-01-01T00:00:00Z"


def test_table_cells_are_never_read_as_markup() -> None:
    column = output.Column("ID", lambda row: str(row), style=lambda _: "red")
    cell = column.cell("[bold]run[/bold]")
    assert cell.plain == "[bold]run[/bold]"


def test_64_bit_integers_are_json_numbers() -> None:
    run = runner_pb2.Run(run_id="r", superstep=7, last_sequence=2**40)
    as_json = output.message_json(run)
    assert as_json["superstep"] == 7 and as_json["last_sequence"] == 2**40
    event = events_pb2.Event(sequence=3, superstep=1)
    assert output.message_json(event)["sequence"] == 3
