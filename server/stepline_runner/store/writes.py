"""Statements a write transaction of the SQLite store runs, on its connection."""

from __future__ import annotations

import functools
import sqlite3

from stepline.v1 import events_pb2

from ..statuses import TERMINAL
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
)
RETURNING = " RETURNING last_sequence, status"
# The same where the run's last sequence number and status are known from
# its previous commit (`Known`): it changes the row only if they still are,
# and so needs no RETURNING clause, which costs as much as the rest (3 us).
UPDATE_KNOWN_RUN = UPDATE_RUN_BUT_STATUS + " AND last_sequence = ? AND status = ?"
SET_STATUS = "UPDATE runs SET status = ? WHERE run_id = ?"
# The checkpoint's seq is the rowid SQLite gives it, which `lastrowid` says
# for less than a RETURNING clause costs.
INSERT_CHECKPOINT_ROW = INSERT_CHECKPOINT.removesuffix(" RETURNING seq")


class Known(dict[str, tuple[int, int]]):
    """Run id -> (last sequence number, status) as the store's last commit of
    the run left them. Only a hint: UPDATE_KNOWN_RUN checks it, and a commit
    rolled back after it was noted leaves it wrong, which the run's next
    commit finds. Ended runs are forgotten, and all at `LIMIT`."""

    LIMIT = 10_000

    def note(self, run_id: str, sequence: int, status: int) -> None:
        if status in TERMINAL:
            self.pop(run_id, None)
            return
        if len(self) >= self.LIMIT:
            self.clear()
        self[run_id] = (sequence, status)


def update_run(
    db: sqlite3.Connection,
    run_id: str,
    update: RunUpdate,
    checkpoint: NewCheckpoint | None,
    events: int,
    now: float,
    known: Known,
) -> int:
    """UPDATE_RUN's change, the status set only when it changes; the run's
    last event sequence number (`StaleEpoch` when fenced off)."""
    status, *values = update_values(run_id, update, checkpoint, events, now)
    was = known.get(run_id)
    if was is not None and db.execute(UPDATE_KNOWN_RUN, (*values, *was)).rowcount:
        sequence, before = was[0] + events, was[1]
    else:  # not known, no longer so, or fenced off
        row = db.execute(UPDATE_RUN_BUT_STATUS + RETURNING, values).fetchone()
        sequence = last_sequence(row, run_id, update)
        before = row[1]
    if before != status:
        db.execute(SET_STATUS, (status, run_id))
    known.note(run_id, sequence, status)
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
    if 0 < len(rows) <= MANY_EVENTS:
        db.execute(insert_events_statement(len(rows)), [value for row in rows for value in row])
    elif rows:
        db.executemany(INSERT_EVENT, rows)
    return events


# A superstep's events in one statement (a microsecond less than executemany)
# up to this many: a statement each count, kept by the connection's cache.
MANY_EVENTS = 8


@functools.cache
def insert_events_statement(count: int) -> str:
    return "INSERT INTO events VALUES " + ", ".join(["(?, ?, ?, ?)"] * count)


def insert_checkpoint(
    db: sqlite3.Connection, run_id: str, checkpoint: NewCheckpoint, now: float
) -> None:
    """Insert a checkpoint of the run and the states it stores."""
    seq = db.execute(INSERT_CHECKPOINT_ROW, checkpoint_values(run_id, checkpoint, now)).lastrowid
    assert seq is not None  # an INSERT's
    insert_states(db, run_id, seq, checkpoint.states, checkpoint.changed)
