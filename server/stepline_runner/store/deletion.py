"""Removing whole runs: their events, checkpoints, state references, and the
blobs that no other run's checkpoint references (forks share blobs by hash)."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from dataclasses import dataclass


@dataclass(frozen=True)
class RunDeletion:
    checkpoints: int
    events: int
    # State blobs removed; on SQLite a small state's copy kept in its
    # reference (states.py), which no other run shares, counts as one.
    blobs: int


def delete_run(db: sqlite3.Connection, run_id: str) -> RunDeletion:
    """Delete the run and everything only it holds, inside the caller's transaction."""
    events = db.execute("DELETE FROM events WHERE run_id = ?", (run_id,))
    checkpoints = db.execute("DELETE FROM checkpoints WHERE run_id = ?", (run_id,))
    # length(): SQLite 3.40 answers `data IS NOT NULL` in a RETURNING clause with 1 always.
    references = db.execute(
        "DELETE FROM checkpoint_states WHERE run_id = ? RETURNING blob_hash, length(data)",
        (run_id,),
    ).fetchall()
    blobs = drop_states(db, [(blob_hash, size is not None) for blob_hash, size in references])
    db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
    return RunDeletion(checkpoints.rowcount, events.rowcount, blobs)


# A blob no reference without bytes of its own points to (the partial index
# checkpoint_states_by_blob holds just those).
DROP_BLOBS = (
    "DELETE FROM blobs WHERE hash IN ({}) AND NOT EXISTS (SELECT 1 FROM checkpoint_states s"
    " WHERE s.blob_hash = blobs.hash AND s.data IS NULL) RETURNING 1"
)


def drop_states(db: sqlite3.Connection, deleted: Collection[tuple[str, bool]]) -> int:
    """After the references `deleted` (hash, holds its bytes) went: delete the
    blobs no reference uses any more. The states removed: those blobs, and
    each copy a deleted reference held."""
    inline = sum(1 for _, held in deleted if held)
    return inline + _drop_blobs(db, {blob_hash for blob_hash, held in deleted if not held})


def _drop_blobs(db: sqlite3.Connection, hashes: Collection[str]) -> int:
    """Delete those of the blobs `hashes` that no reference uses any more;
    how many. In slices: SQLite caps the parameters of one statement."""
    ordered = sorted(hashes)
    dropped = 0
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        sql = DROP_BLOBS.format(",".join("?" * len(chunk)))
        dropped += len(db.execute(sql, chunk).fetchall())
    return dropped
