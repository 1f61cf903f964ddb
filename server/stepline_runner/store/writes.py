"""Statements a write transaction of the SQLite store runs, on its connection."""

from __future__ import annotations

import sqlite3

from stepline.v1 import events_pb2

from .base import NewCheckpoint, RunUpdate
from .statements import (
    INSERT_CHECKPOINT,
    INSERT_EVENT,
    checkpoint_values,
    last_sequence,
    numbered_rows,
    update_values,
)
from .states import collect_garbage, insert_states

# UPDATE_RUN without the status: SQLite rewrites the entries of every index
# over a column the statement sets, equal or not, and two indexes hold the
# status (runs_by_status, runs_by_workflow_status): two of a superstep's 15
# pages. Its commits seldom change the status; when one does, SET_STATUS.
UPDATE_RUN_BUT_STATUS = (
    "UPDATE runs SET superstep = ?, error = ?, updated_at = ?,"
    " latest_checkpoint_id = COALESCE(?, latest_checkpoint_id),"
    " workflow_version = COALESCE(NULLIF(?, 0), workflow_version),"
    " last_sequence = last_sequence + ? WHERE run_id = ? AND ? IN (0, epoch)"
    " RETURNING last_sequence, status"
)
SET_STATUS = "UPDATE runs SET status = ? WHERE run_id = ?"


def update_run(
    db: sqlite3.Connection,
    run_id: str,
    update: RunUpdate,
    checkpoint: NewCheckpoint | None,
    events: int,
    now: float,
) -> int:
    """UPDATE_RUN's change, the status set only when it changes; the run's
    last event sequence number (`StaleEpoch` when fenced off)."""
    status, *values = update_values(run_id, update, checkpoint, events, now)
    row = db.execute(UPDATE_RUN_BUT_STATUS, values).fetchone()
    sequence = last_sequence(row, run_id, update)
    if row[1] != status:
        db.execute(SET_STATUS, (status, run_id))
    return sequence


def delete_checkpoints(db: sqlite3.Connection, run_id: str, checkpoint_ids: list[str]) -> int:
    """Delete checkpoints of a run, and what only they used; return blobs dropped."""
    if not checkpoint_ids:
        return 0
    marks = ",".join("?" * len(checkpoint_ids))
    db.execute(f"DELETE FROM checkpoints WHERE checkpoint_id IN ({marks})", checkpoint_ids)
    return collect_garbage(db, run_id)


def insert_events(
    db: sqlite3.Connection,
    run_id: str,
    events: list[events_pb2.Event],
    bodies: list[bytes],
    last_sequence: int,
) -> list[events_pb2.Event]:
    """Number the events (their `event_bodies`) so the last one is
    `last_sequence`, and insert them."""
    rows = numbered_rows(run_id, events, bodies, last_sequence)
    if len(rows) == 1:
        db.execute(INSERT_EVENT, rows[0])
    elif rows:
        db.executemany(INSERT_EVENT, rows)
    return events


def insert_checkpoint(
    db: sqlite3.Connection, run_id: str, checkpoint: NewCheckpoint, now: float
) -> None:
    """Insert a checkpoint of the run and the states it stores."""
    (seq,) = db.execute(INSERT_CHECKPOINT, checkpoint_values(run_id, checkpoint, now)).fetchone()
    insert_states(db, run_id, seq, checkpoint.states, checkpoint.changed)
