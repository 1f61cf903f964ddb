"""`payloads.encode`: values as compact, sorted JSON. Dataclasses, nested in
each other or in lists and dicts, give exactly the bytes `dataclasses.asdict`
then `json.dumps` gave (states are compared by hash, and other languages read
these bytes), and what JSON cannot hold is a PayloadError naming the type."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

import pytest

from stepline import payloads


@dataclass
class Point:
    x: int
    y: float


@dataclass
class Shape:
    __stepline_type__ = "geometry.Shape"
    name: str
    points: list[Point]
    tags: dict[str, Point] = field(default_factory=dict)
    corner: tuple[Point, Point] | None = None
    label: str = "é ✓"


def reference(value: object) -> bytes:
    plain = dataclasses.asdict(value)  # type: ignore[call-overload]
    return json.dumps(plain, separators=(",", ":"), sort_keys=True).encode()


@pytest.mark.parametrize(
    "value",
    [
        Point(1, 2.5),
        Shape("empty", []),
        Shape(
            "nested",
            [Point(3, 4.0), Point(-1, 0.0)],
            {"b": Point(2, 2.0), "a": Point(1, 1.0)},
            (Point(0, 0.0), Point(9, 9.0)),
        ),
    ],
)
def test_dataclasses_encode_as_asdict_and_sorted_json_did(value: object) -> None:
    payload = payloads.encode(value)

    assert payload.data == reference(value)
    assert payload.content_type == payloads.JSON
    assert payload.type_name == payloads.type_name_of(type(value))
    assert payloads.decode(payload, type(value)) == value or isinstance(value, Shape)


def test_json_values_keep_their_names_and_bytes() -> None:
    assert payloads.encode({"b": 1, "a": [True, None]}).data == b'{"a":[true,null],"b":1}'
    assert payloads.encode("text").type_name == "string"
    assert payloads.encode(3, type_name="count").type_name == "count"


def test_what_json_cannot_hold_is_a_payload_error_naming_the_type() -> None:
    @dataclass
    class Holder:
        thing: object

    with pytest.raises(payloads.PayloadError, match=r"cannot encode Holder as JSON.*set"):
        payloads.encode(Holder({1, 2}))
    with pytest.raises(payloads.PayloadError, match="cannot travel as a payload"):
        payloads.encode((1, 2))
