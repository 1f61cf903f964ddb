"""Statements a write transaction of the SQLite store runs, on its connection."""

from __future__ import annotations

import sqlite3

from stepline.v1 import events_pb2

from .base import NewCheckpoint
from .statements import INSERT_CHECKPOINT, INSERT_EVENT, checkpoint_values, event_rows
from .states import collect_garbage, insert_states


def delete_checkpoints(db: sqlite3.Connection, run_id: str, checkpoint_ids: list[str]) -> int:
    """Delete checkpoints of a run, and what only they used; return blobs dropped."""
    if not checkpoint_ids:
        return 0
    marks = ",".join("?" * len(checkpoint_ids))
    db.execute(f"DELETE FROM checkpoints WHERE checkpoint_id IN ({marks})", checkpoint_ids)
    return collect_garbage(db, run_id)


def insert_events(
    db: sqlite3.Connection, run_id: str, events: list[events_pb2.Event], last_sequence: int
) -> list[events_pb2.Event]:
    """Number the events so the last one is `last_sequence`, and insert them."""
    rows = event_rows(run_id, events, last_sequence)
    if rows:
        db.executemany(INSERT_EVENT, rows)
    return events


def insert_checkpoint(
    db: sqlite3.Connection, run_id: str, checkpoint: NewCheckpoint, now: float
) -> None:
    """Insert a checkpoint of the run and the states it stores."""
    (seq,) = db.execute(INSERT_CHECKPOINT, checkpoint_values(run_id, checkpoint, now)).fetchone()
    insert_states(db, run_id, seq, checkpoint.states, checkpoint.changed)
