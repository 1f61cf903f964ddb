"""Typed payloads: how Python values travel as language-neutral bytes.

A value becomes a `Payload` with a type name, a content type and bytes:

- protobuf messages: their full name, `application/x-protobuf`;
- dataclasses: `__stepline_type__` if the class sets it, else the class name,
  JSON of their fields;
- JSON values: `string`, `integer`, `number`, `boolean`, `object`, `array`.

The type name is the contract between executors in different languages, so it
is explicit and stable; nothing here ever pickles.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import json.encoder
import typing
from collections.abc import Callable
from typing import Any, TypeVar

from google.protobuf.message import Message as ProtoMessage

from stepline.v1 import payload_pb2

Payload = payload_pb2.Payload
JSON = "application/json"
PROTOBUF = "application/x-protobuf"

_JSON_NAMES: dict[type, str] = {
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    dict: "object",
    list: "array",
}

T = TypeVar("T")


class PayloadError(ValueError):
    """A payload could not be encoded or decoded as the expected type."""


def type_name_of(tp: Any) -> str:
    """The type name under which values of `tp` travel."""
    origin = typing.get_origin(tp) or tp
    if isinstance(origin, type) and issubclass(origin, ProtoMessage):
        return str(origin.DESCRIPTOR.full_name)
    if dataclasses.is_dataclass(origin) and isinstance(origin, type):
        return str(getattr(origin, "__stepline_type__", origin.__name__))
    if origin in _JSON_NAMES:
        return _JSON_NAMES[origin]
    raise PayloadError(
        f"{tp!r} cannot travel as a payload: use a dataclass, a protobuf message, "
        "or a JSON value (str, int, float, bool, dict, list)"
    )


def encode(value: Any, type_name: str | None = None) -> payload_pb2.Payload:
    """Encode a value; `type_name` overrides the inferred name (JSON values only)."""
    if isinstance(value, payload_pb2.Payload):
        return value
    if isinstance(value, ProtoMessage):
        return payload_pb2.Payload(
            type_name=value.DESCRIPTOR.full_name,
            content_type=PROTOBUF,
            data=value.SerializeToString(),
        )
    name = type_name or _class_type_name(type(value))
    try:
        # Dataclasses (nested ones too) become objects of their fields, as
        # `dataclasses.asdict` makes them, without its deep copy.
        raw = _dumps(_fields_of(value))
    except TypeError as exc:
        raise PayloadError(f"cannot encode {type(value).__name__} as JSON: {exc}") from exc
    return payload_pb2.Payload(type_name=name, content_type=JSON, data=raw)


def _field_names(cls: type) -> tuple[str, ...] | None:
    """A dataclass's field names; None for any other class."""
    if cls not in _FIELDS:
        if len(_FIELDS) >= _CACHED:
            _FIELDS.clear()  # classes made on the fly: bounded, never wrong
        is_dataclass = dataclasses.is_dataclass(cls)
        _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls)) if is_dataclass else None
    return _FIELDS[cls]


def _fields_of(value: Any) -> Any:
    """A dataclass instance as a dict of its fields; anything else as it is."""
    names = _field_names(type(value))
    if names is None:
        return value
    return {name: getattr(value, name) for name in names}


def _nested(value: Any) -> Any:
    """The encoder's hook for what it cannot encode itself: dataclasses."""
    if _field_names(type(value)) is None:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
    return _fields_of(value)


def json_encoder(default: Callable[[Any], Any] | None = None) -> Callable[[Any], bytes]:
    """What `JSONEncoder(separators=(",", ":"), sort_keys=True, default=default)
    .encode(value).encode()` gives: compact and sorted, so that the same value
    always gives the same bytes (states are compared by hash). Made by the C
    encoder that method makes per call too, without the Python around it
    (this is on every message's path)."""
    reference = json.JSONEncoder(separators=(",", ":"), sort_keys=True, default=default)
    make = json.encoder.c_make_encoder  # type: ignore[attr-defined]
    if make is None:  # a Python without the C accelerator
        return lambda value: reference.encode(value).encode()
    # c_make_encoder's arguments as JSONEncoder.iterencode passes them.
    options = (reference.default, json.encoder.encode_basestring_ascii, None, ":", ",")
    flags = (True, False, True)  # sort_keys, skipkeys, allow_nan

    def dumps(value: Any) -> bytes:
        return "".join(make({}, *options, *flags)(value, 0)).encode()

    return dumps


_dumps = json_encoder(_nested)


def _class_type_name(cls: type) -> str:
    name = _NAMES.get(cls)
    if name is None:
        if len(_NAMES) >= _CACHED:
            _NAMES.clear()
        name = _NAMES[cls] = type_name_of(cls)
    return name


# Per class, what encoding a value of it needs to know (looked up per value).
_CACHED = 1024
_FIELDS: dict[type, tuple[str, ...] | None] = {}
_NAMES: dict[type, str] = {}


def decode(payload: payload_pb2.Payload, tp: type[T]) -> T:
    """Decode a payload into an instance of `tp` (see the module docstring)."""
    origin, kind = _kind(tp)
    if kind is _Kind.PAYLOAD:
        return typing.cast(T, payload)
    content_type = payload.content_type or JSON
    if kind is _Kind.PROTOBUF:
        if content_type != PROTOBUF:
            raise PayloadError(f"{payload.type_name}: expected {PROTOBUF}, got {content_type}")
        message = origin()
        message.ParseFromString(payload.data)
        return typing.cast(T, message)
    if content_type != JSON:
        raise PayloadError(f"{payload.type_name}: expected {JSON}, got {content_type}")
    try:
        data = _loads(payload.data) if payload.data else None
    except ValueError as exc:
        raise PayloadError(f"{payload.type_name}: invalid JSON: {exc}") from exc
    if kind is _Kind.DATACLASS:
        if not isinstance(data, dict):
            raise PayloadError(f"{payload.type_name}: expected a JSON object")
        try:
            return typing.cast(T, origin(**data))
        except TypeError as exc:
            raise PayloadError(f"{payload.type_name}: {exc}") from exc
    if origin is float and isinstance(data, int) and not isinstance(data, bool):
        data = float(data)
    if kind is _Kind.CLASS and not isinstance(data, origin):
        raise PayloadError(f"{payload.type_name}: expected {origin.__name__}, got {data!r}")
    return typing.cast(T, data)


class _Kind(enum.Enum):
    """How `decode` makes a value of a type."""

    PAYLOAD = "the payload itself"
    PROTOBUF = "a protobuf message"
    DATACLASS = "a dataclass from a JSON object"
    CLASS = "a JSON value of that class"
    ANY = "a JSON value, unchecked"


def _kind(tp: Any) -> tuple[Any, _Kind]:
    """`tp`'s origin and how to decode it, looked up per type once (it is on
    every message's path)."""
    try:
        return _KINDS[tp]
    except KeyError:
        pass
    except TypeError:  # an unhashable annotation
        return _kind_of(tp)
    if len(_KINDS) >= _CACHED:
        _KINDS.clear()  # types made on the fly: bounded, never wrong
    found = _KINDS[tp] = _kind_of(tp)
    return found


def _kind_of(tp: Any) -> tuple[Any, _Kind]:
    origin = typing.get_origin(tp) or tp
    if origin is payload_pb2.Payload:
        return origin, _Kind.PAYLOAD
    if isinstance(origin, type) and issubclass(origin, ProtoMessage):
        return origin, _Kind.PROTOBUF
    if dataclasses.is_dataclass(origin) and isinstance(origin, type):
        return origin, _Kind.DATACLASS
    return origin, _Kind.CLASS if isinstance(origin, type) else _Kind.ANY


_KINDS: dict[Any, tuple[Any, _Kind]] = {}
_DECODER = json.JSONDecoder()


def _loads(data: bytes) -> Any:
    """`json.loads(data)`. Bytes that start as UTF-8 does (what every SDK
    sends) are read as UTF-8 at once, as json.loads would after guessing the
    encoding; any other start (a BOM, UTF-16 or -32) goes through json.loads."""
    if len(data) > 1 and 0 < data[0] < 0x80 and data[1]:
        return _DECODER.decode(data.decode("utf-8", "surrogatepass"))
    return json.loads(data)


def json_value(payload: payload_pb2.Payload) -> Any:
    """The payload's JSON value, whatever its type name."""
    if (payload.content_type or JSON) != JSON:
        raise PayloadError(f"{payload.type_name}: not a JSON payload")
    try:
        return _loads(payload.data) if payload.data else None
    except ValueError as exc:
        raise PayloadError(f"{payload.type_name}: invalid JSON: {exc}") from exc


def state_hash(payload: payload_pb2.Payload) -> str:
    """Hash that names a state's content (see SaveCheckpointRequest.known_state_hash)."""
    return data_hash(payload.data)


def data_hash(data: bytes) -> str:
    """`state_hash` of a state whose bytes are `data`."""
    return hashlib.sha256(data).hexdigest()
