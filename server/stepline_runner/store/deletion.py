"""Removing whole runs: their events, checkpoints, state references, and the
blobs that no other run's checkpoint references (forks share blobs by hash)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class RunDeletion:
    checkpoints: int
    events: int
    blobs: int


def delete_run(db: sqlite3.Connection, run_id: str) -> RunDeletion:
    """Delete the run and everything only it holds, inside the caller's transaction."""
    events = db.execute("DELETE FROM events WHERE run_id = ?", (run_id,))
    checkpoints = db.execute("DELETE FROM checkpoints WHERE run_id = ?", (run_id,))
    hashes = sorted(
        {
            row[0]
            for row in db.execute(
                "DELETE FROM checkpoint_states WHERE run_id = ? RETURNING blob_hash", (run_id,)
            ).fetchall()
        }
    )
    blobs = 0
    # In slices: SQLite caps the number of parameters of one statement.
    for start in range(0, len(hashes), 500):
        chunk = hashes[start : start + 500]
        dropped = db.execute(
            f"DELETE FROM blobs WHERE hash IN ({','.join('?' * len(chunk))}) AND NOT EXISTS"
            " (SELECT 1 FROM checkpoint_states s WHERE s.blob_hash = blobs.hash) RETURNING 1",
            chunk,
        ).fetchall()
        blobs += len(dropped)
    db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
    return RunDeletion(checkpoints.rowcount, events.rowcount, blobs)
