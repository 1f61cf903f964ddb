"""Executor states of checkpoints, stored by what changed.

A state's bytes live once in `blobs`, by hash. A run's checkpoints form one
line, so `checkpoint_states` holds a reference only where an executor's state
changed: the row (run, executor, since_seq) stands for every checkpoint of the
run from `since_seq` until that executor's next row. A checkpoint where one of
32 executors changed costs one row, not 32.

A small state (at most `INLINE_BYTES`) is kept in its reference row itself
(`data`): a superstep's commit then writes no blob and no entry of the
index that garbage collection finds a blob's references by (only rows
without `data` are in it), three B-tree pages of its twelve. Its bytes are
stored again at each change, and a fork stores those of its first
checkpoint again: each time fewer bytes than the hash that would name them
in a second run. Larger states are blobs, shared by hash across runs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Mapping

from stepline.payloads import state_hash
from stepline.v1 import payload_pb2

from ..errors import DataLoss
from .base import StateRef
from .deletion import drop_states

# The largest state kept in its reference row (see the module): well within
# what a row of checkpoint_states holds on its B-tree page.
INLINE_BYTES = 512

INSERT_STATE = "INSERT INTO checkpoint_states VALUES (?, ?, ?, ?, ?, ?, ?)"
INSERT_BLOB = "INSERT OR IGNORE INTO blobs VALUES (?, ?)"
# The bytes of a state the caller says are stored, but not as a blob: kept
# inline in one of the run's own references of that executor (the caller
# knows the state from there: the run's last one, or the checkpoint it was
# rewound to). Found by the primary key: by hash alone no index serves it
# (the one by hash holds only rows without bytes), a scan of every run's
# states inside the writer.
INLINE_COPY = """
SELECT data FROM checkpoint_states
WHERE run_id = ? AND executor_id = ? AND blob_hash = ? AND data IS NOT NULL
ORDER BY since_seq DESC LIMIT 1
"""


class CorruptBlob(DataLoss):
    """A stored state's bytes are missing or no longer match their hash."""


def insert_states(
    db: sqlite3.Connection,
    run_id: str,
    checkpoint_seq: int,
    states: Mapping[str, StateRef],
    changed: Collection[str] | None,
) -> None:
    """Store the states of a new checkpoint: a reference for each executor in
    `changed` (None: every executor), with a small state's bytes in it, and
    a larger one's bytes as a blob unless stored already."""
    rows = []
    for executor_id, s in states.items():
        if changed is not None and executor_id not in changed:
            continue
        data = s.data
        if data is None:
            data = _stored_inline(db, run_id, executor_id, s.hash)
        elif len(data) > INLINE_BYTES:
            db.execute(INSERT_BLOB, (s.hash, data))
            data = None
        row = (run_id, executor_id, checkpoint_seq, s.hash, s.type_name, s.content_type, data)
        rows.append(row)
    if len(rows) == 1:
        db.execute(INSERT_STATE, rows[0])
    elif rows:
        db.executemany(INSERT_STATE, rows)


def _stored_inline(
    db: sqlite3.Connection, run_id: str, executor_id: str, blob_hash: str
) -> bytes | None:
    """For a state given without its bytes (the same bytes as before, under
    another type name or content type): None when they are a blob (the
    reference points there), else a copy of them from the run's reference
    that holds them inline (None too when there is none: LOAD_STATES will
    say so)."""
    if db.execute("SELECT 1 FROM blobs WHERE hash = ?", (blob_hash,)).fetchone():
        return None
    row = db.execute(INLINE_COPY, (run_id, executor_id, blob_hash)).fetchone()
    return None if row is None else bytes(row[0])


# Each executor's row with the greatest since_seq not after the checkpoint
# (SQLite takes the bare columns from the row that holds the max).
LOAD_STATES = """
WITH refs AS (
    SELECT executor_id, blob_hash, type_name, content_type, data, max(since_seq)
    FROM checkpoint_states WHERE run_id = ? AND since_seq <= ? GROUP BY executor_id
)
SELECT refs.executor_id, refs.blob_hash, refs.type_name, refs.content_type,
    coalesce(refs.data, blobs.data)
FROM refs LEFT JOIN blobs ON refs.data IS NULL AND blobs.hash = refs.blob_hash
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
    checkpoint uses, then the blobs nothing references. Returns the states
    dropped (`drop_states`)."""
    unused = db.execute(
        """
        SELECT s.executor_id, s.since_seq, s.blob_hash, s.data IS NOT NULL
        FROM checkpoint_states s
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
        [(run_id, executor_id, since) for executor_id, since, _, _ in unused],
    )
    return drop_states(db, [(blob_hash, bool(held)) for _, _, blob_hash, held in unused])
