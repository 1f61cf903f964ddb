"""Checks of request fields shared by the runner's calls."""

from __future__ import annotations

import re

from stepline.v1 import payload_pb2

from ..namespaces import split_run_key, split_workflow_key, valid_namespace
from .errors import InvalidArgument, Reason

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# Ids of workflows, executors, checkpoints and requests: printable ASCII, no
# spaces, so none hides a NUL, a control or a right-to-left character.
PRINTABLE_ID = re.compile(r"^[!-~]+$")
QUOTE_PREFIX = 40
# Ids executors choose (request ids) cannot be refused at the door: a run
# whose executor picks a bad one fails.
ID_LENGTH = 256
TYPE_NAME_LENGTH = 512
CONTENT_TYPES = ("", "application/json", "application/x-protobuf")
MAX_PAGE_SIZE = 1000


def short(value: str, limit: int = QUOTE_PREFIX) -> str:
    """`value` quoted for an error message: at most a short prefix of it."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


def valid_id(value: str, max_length: int = ID_LENGTH) -> bool:
    return 0 < len(value) <= max_length and PRINTABLE_ID.fullmatch(value) is not None


def check_id(value: str, field: str, max_length: int, required: bool = True) -> None:
    """A workflow, executor, checkpoint or request id: 1 to `max_length`
    printable ASCII characters other than space."""
    if not value:
        if required:
            raise InvalidArgument(
                f"{field} is required", reason=Reason.MISSING_FIELD, context={"field": field}
            )
        return
    if len(value) > max_length:
        raise InvalidArgument(
            f"{field} {short(value)} is longer than {max_length} characters "
            "(runner option --limit id_length=N)",
            reason=Reason.INVALID_ID,
            context={"field": field},
        )
    if not PRINTABLE_ID.fullmatch(value):
        raise InvalidArgument(
            f"{field} {short(value)} may hold only printable ASCII characters, without spaces",
            reason=Reason.INVALID_ID,
            context={"field": field},
        )


def check_run_id(run_id: str, field: str = "run_id") -> None:
    if not RUN_ID.fullmatch(run_id):
        raise InvalidArgument(
            f"{field} {short(run_id)} must be 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            reason=Reason.INVALID_ID,
            context={"field": field},
        )


def check_run_key(key: str, field: str = "run_id") -> None:
    """A run key (see namespaces): a run id, after "<namespace>/" outside default."""
    namespace, run_id = split_run_key(key)
    check_run_id(run_id if valid_namespace(namespace) else key, field)


def check_workflow_key(key: str, field: str, max_length: int, required: bool = True) -> None:
    """A workflow key (see namespaces): a workflow id, after "<namespace> "
    outside default."""
    namespace, workflow_id = split_workflow_key(key)
    check_id(workflow_id if valid_namespace(namespace) else key, field, max_length, required)


def check_payload(payload: payload_pb2.Payload, what: str) -> None:
    if not payload.type_name:
        raise InvalidArgument(f"{what}: type_name is required", reason=Reason.INVALID_PAYLOAD)
    if not valid_id(payload.type_name, TYPE_NAME_LENGTH):
        raise InvalidArgument(
            f"{what}: type_name {short(payload.type_name)} must be 1-{TYPE_NAME_LENGTH} "
            "printable ASCII characters without spaces",
            reason=Reason.INVALID_PAYLOAD,
        )
    if payload.content_type not in CONTENT_TYPES:
        raise InvalidArgument(
            f"{what}: content_type {short(payload.content_type)} is not supported; use "
            "application/json or application/x-protobuf",
            reason=Reason.INVALID_PAYLOAD,
        )


def clamp_page_size(size: int) -> int:
    if size < 0:
        raise InvalidArgument("page_size must be 0 or more", reason=Reason.INVALID_PAGE_SIZE)
    return min(size or 50, MAX_PAGE_SIZE)
