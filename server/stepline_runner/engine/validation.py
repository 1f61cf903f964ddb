"""Checks of request fields shared by the runner's calls."""

from __future__ import annotations

import re

from stepline.v1 import payload_pb2

from ..store.sqlite import decode_token
from .errors import InvalidArgument, Reason

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
CONTENT_TYPES = ("", "application/json", "application/x-protobuf")
MAX_PAGE_SIZE = 1000


def check_run_id(run_id: str, field: str = "run_id") -> None:
    if not RUN_ID.match(run_id):
        raise InvalidArgument(
            f"{field} {run_id!r} must be 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            reason=Reason.INVALID_ID,
            context={"field": field},
        )


def check_payload(payload: payload_pb2.Payload, what: str) -> None:
    if not payload.type_name:
        raise InvalidArgument(f"{what}: type_name is required", reason=Reason.INVALID_PAYLOAD)
    if payload.content_type not in CONTENT_TYPES:
        raise InvalidArgument(
            f"{what}: content_type {payload.content_type!r} is not supported; use "
            "application/json or application/x-protobuf",
            reason=Reason.INVALID_PAYLOAD,
        )


def clamp_page_size(size: int) -> int:
    if size < 0:
        raise InvalidArgument("page_size must be 0 or more", reason=Reason.INVALID_PAGE_SIZE)
    return min(size or 50, MAX_PAGE_SIZE)


def check_token(token: str) -> None:
    try:
        decode_token(token)
    except ValueError as exc:
        raise InvalidArgument(str(exc), reason=Reason.INVALID_PAGE_TOKEN) from exc
