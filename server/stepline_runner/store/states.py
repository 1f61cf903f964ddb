"""Executor states of checkpoints, stored by what changed.

A state's bytes live once in `blobs`, by hash. A run's checkpoints form one
line, so `checkpoint_states` holds a reference only where an executor's state
changed: the row (run, executor, since_seq) stands for every checkpoint of the
run from `since_seq` until that executor's next row. A checkpoint where one of
32 executors changed costs one row, not 32.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Mapping

from stepline.payloads import state_hash
from stepline.v1 import payload_pb2

from ..errors import DataLoss
from .base import StateRef
from .statements import INSERT_STATE, state_rows


class CorruptBlob(DataLoss):
    """A stored state's bytes are missing or no longer match their hash."""


def insert_states(
    db: sqlite3.Connection,
    run_id: str,
    checkpoint_seq: int,
    states: Mapping[str, StateRef],
    changed: Collection[str] | None,
) -> None:
    """Store the states of a new checkpoint: the bytes nobody stored yet, and a
    reference for each executor in `changed` (None: every executor)."""
    new_blobs = [(s.hash, s.data) for s in states.values() if s.data is not None]
    if new_blobs:
        db.executemany("INSERT OR IGNORE INTO blobs VALUES (?, ?)", new_blobs)
    rows = state_rows(run_id, checkpoint_seq, states, changed)
    if rows:
        db.executemany(INSERT_STATE, rows)


# Each executor's row with the greatest since_seq not after the checkpoint
# (SQLite takes the bare columns from the row that holds the max).
LOAD_STATES = """
WITH refs AS (
    SELECT executor_id, blob_hash, type_name, content_type, max(since_seq)
    FROM checkpoint_states WHERE run_id = ? AND since_seq <= ? GROUP BY executor_id
)
SELECT refs.executor_id, refs.blob_hash, refs.type_name, refs.content_type, blobs.data
FROM refs LEFT JOIN blobs ON blobs.hash = refs.blob_hash
"""


def decode_states(
    checkpoint_id: str, rows: list[tuple[str, str, str, str, bytes | None]]
) -> dict[str, payload_pb2.Payload]:
    """Payloads from LOAD_STATES rows, each checked against its hash."""
    states = {}
    for executor_id, blob_hash, type_name, content_type, data in rows:
        if data is None:
            raise CorruptBlob(
                f"checkpoint {checkpoint_id}: the stored state of {executor_id!r} "
                f"(blob {blob_hash}) is missing; the database file was altered"
            )
        state = payload_pb2.Payload(type_name=type_name, content_type=content_type, data=data)
        if state_hash(state) != blob_hash:
            raise CorruptBlob(
                f"checkpoint {checkpoint_id}: the stored state of {executor_id!r} does not "
                f"match its hash {blob_hash}; the database file was altered"
            )
        states[executor_id] = state
    return states


def collect_garbage(db: sqlite3.Connection, run_id: str) -> int:
    """After checkpoints of a run were deleted: drop the references no remaining
    checkpoint uses, then the blobs nothing references. Returns blobs dropped."""
    unused = db.execute(
        """
        SELECT s.executor_id, s.since_seq, s.blob_hash FROM checkpoint_states s
        WHERE s.run_id = ?1 AND NOT EXISTS (
            SELECT 1 FROM checkpoints c WHERE c.run_id = ?1 AND c.seq >= s.since_seq
            AND c.seq < coalesce((
                SELECT min(n.since_seq) FROM checkpoint_states n
                WHERE n.run_id = ?1 AND n.executor_id = s.executor_id
                AND n.since_seq > s.since_seq), 1 << 62))
        """,
        (run_id,),
    ).fetchall()
    if not unused:
        return 0
    db.executemany(
        "DELETE FROM checkpoint_states WHERE run_id = ? AND executor_id = ? AND since_seq = ?",
        [(run_id, executor_id, since) for executor_id, since, _ in unused],
    )
    hashes = sorted({blob_hash for _, _, blob_hash in unused})
    dropped = db.execute(
        f"DELETE FROM blobs WHERE hash IN ({','.join('?' * len(hashes))}) AND NOT EXISTS"
        " (SELECT 1 FROM checkpoint_states s WHERE s.blob_hash = blobs.hash) RETURNING hash",
        hashes,
    ).fetchall()
    return len(dropped)
