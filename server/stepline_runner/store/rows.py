"""Rows of the SQLite store to protobuf messages, and page tokens."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from stepline.v1 import runner_pb2, workflow_pb2

from ..errors import InvalidArgument, Reason

RUN_COLUMNS = (
    "run_id, workflow_id, status, superstep, latest_checkpoint_id, parent_checkpoint_id,"
    " parent_run_id, error, last_sequence, graph_signature, created_at, updated_at,"
    " checkpoint_policy, workflow_version, epoch"
)
CHECKPOINT_COLUMNS = (
    "checkpoint_id, run_id, superstep, parent_checkpoint_id, graph_signature, created_at"
)


def _timestamp(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def run_row(row: Any) -> runner_pb2.Run:
    run = runner_pb2.Run(
        run_id=row[0],
        workflow_id=row[1],
        status=row[2],
        superstep=row[3],
        latest_checkpoint_id=row[4],
        parent_checkpoint_id=row[5],
        parent_run_id=row[6],
        last_sequence=row[8],
        graph_signature=row[9],
        created_at=_timestamp(row[10]),
        updated_at=_timestamp(row[11]),
        workflow_version=row[13],
        epoch=row[14],
    )
    if row[7]:
        run.error.ParseFromString(row[7])
    if row[12]:
        run.checkpoint_policy.ParseFromString(row[12])
    return run


def workflow_row(row: Any) -> runner_pb2.WorkflowSummary:
    """A summary from (definition, graph_signature, updated_at, version, ...)."""
    definition = workflow_pb2.WorkflowDefinition.FromString(row[0])
    return runner_pb2.WorkflowSummary(
        workflow_id=definition.workflow_id,
        graph_signature=row[1],
        start_executor_id=definition.start_executor_id,
        executor_count=len(definition.executors),
        edge_count=len(definition.edges),
        updated_at=_timestamp(row[2]),
        version=row[3],
    )


def checkpoint_row(row: Any) -> runner_pb2.Checkpoint:
    return runner_pb2.Checkpoint(
        checkpoint_id=row[0],
        run_id=row[1],
        superstep=row[2],
        parent_checkpoint_id=row[3],
        graph_signature=row[4],
        created_at=_timestamp(row[5]),
    )


def last_within(sizes: Sequence[Any], after: int, max_bytes: int) -> int:
    """Of (key, size) rows in key order after `after`: the key of the last
    row whose sizes, summed from the first, stay within `max_bytes`; always
    at least the first row's (`after` when there is none)."""
    last, total = after, 0
    for key, size in sizes:
        if last > after and total + size > max_bytes:
            break
        last, total = key, total + size
    return int(last)


def encode_token(seq: int) -> str:
    return base64.urlsafe_b64encode(str(seq).encode()).decode()


def decode_token(token: str) -> int:
    """0 for an empty token; `InvalidArgument` for one this store did not make."""
    if not token:
        return 0
    try:
        seq = int(base64.urlsafe_b64decode(token.encode()).decode())
    except (ValueError, UnicodeDecodeError):
        seq = -1
    if not 0 < seq < 2**62:
        raise InvalidArgument(
            f"page_token {token[:40]!r} is not one this runner issued",
            reason=Reason.INVALID_PAGE_TOKEN,
        )
    return seq
