"""The shortcuts on every message's path give what the plain calls give:
`payloads.json_encoder` the bytes of `json.JSONEncoder(...).encode`, and
`decode` / `json_value` what `json.loads` reads, whatever the bytes' encoding,
with the same errors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from stepline import payloads
from stepline.v1 import payload_pb2


@dataclass
class Inner:
    text: str


@dataclass
class Outer:
    n: int
    inner: Inner


def reference(value: object, default: Any = None) -> bytes:
    encoder = json.JSONEncoder(separators=(",", ":"), sort_keys=True, default=default)
    return encoder.encode(value).encode()


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": [1.5, -0.0, 1e300, None, True], "c": {"z": "é ✓ \u2028 \"'\\"}},
        "just a string \n",
        3.25,
        [float("inf"), float("-inf")],
        {2: "int keys", 1: 1},
        [],
    ],
)
def test_the_encoder_gives_the_bytes_json_encoder_gives(value: object) -> None:
    assert payloads.json_encoder()(value) == reference(value)


def test_the_encoder_calls_default_and_refuses_as_json_encoder_does() -> None:
    def default(value: object) -> object:
        if isinstance(value, Inner):
            return {"text": value.text}
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    assert payloads.json_encoder(default)([Inner("x")]) == reference([Inner("x")], default)
    with pytest.raises(TypeError, match="object is not JSON serializable"):
        payloads.json_encoder()(object())
    circular: list[object] = []
    circular.append(circular)
    with pytest.raises(ValueError, match="Circular reference"):
        payloads.json_encoder()(circular)
    # A failed encode leaves nothing behind for the next one.
    assert payloads.json_encoder()([circular[:0]]) == b"[[]]"


def payload(data: bytes) -> payload_pb2.Payload:
    return payload_pb2.Payload(type_name="Outer", content_type=payloads.JSON, data=data)


@pytest.mark.parametrize(
    "data",
    [
        b'{"n":1,"inner":{"text":"\xc3\xa9"}}',
        b'\xef\xbb\xbf{"n":1,"inner":{"text":"bom"}}',  # UTF-8 with a BOM
        '{"n":1,"inner":{"text":"le"}}'.encode("utf-16-le"),
        '{"n":1,"inner":{"text":"be"}}'.encode("utf-16"),
        '{"n":1,"inner":{"text":"32"}}'.encode("utf-32-le"),
    ],
)
def test_json_is_read_in_every_encoding_json_loads_reads(data: bytes) -> None:
    expected = json.loads(data)
    assert payloads.json_value(payload(data)) == expected
    decoded = payloads.decode(payload(data), dict)
    assert decoded == expected
    assert payloads.decode(payload(data), Outer).n == 1


@pytest.mark.parametrize(
    "data", [b'{"n":1', b'{"n":"\xff"}', b"\x00\x00", b"nul", b"7 8", b'"\xed\xa0\x80"']
)
def test_bad_json_is_refused_as_json_loads_refuses_it(data: bytes) -> None:
    try:
        expected: object = json.loads(data)
    except ValueError as exc:
        with pytest.raises(payloads.PayloadError, match="invalid JSON") as refused:
            payloads.json_value(payload(data))
        assert type(refused.value.__cause__) is type(exc)
    else:  # what json.loads reads (a lone surrogate, passed through), this reads too
        assert payloads.json_value(payload(data)) == expected


def test_a_type_decodes_the_same_every_time_and_unhashable_annotations_too() -> None:
    data = payload(b'{"n":2,"inner":{"text":"t"}}')
    first, again = payloads.decode(data, Outer), payloads.decode(data, Outer)
    assert first == again == Outer(2, {"text": "t"})  # type: ignore[arg-type]
    with pytest.raises(payloads.PayloadError, match="expected int"):
        payloads.decode(data, int)
    number = payload_pb2.Payload(type_name="number", content_type=payloads.JSON, data=b"3")
    assert payloads.decode(number, float) == 3.0 and isinstance(
        payloads.decode(number, float), float
    )

    class Unhashable(type):
        __hash__ = None  # type: ignore[assignment]

    class Strange(metaclass=Unhashable):
        pass

    with pytest.raises(payloads.PayloadError, match="expected Strange"):
        payloads.decode(number, Strange)
