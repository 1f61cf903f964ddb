"""Write statements both stores send as they are (placeholders `?`; the
PostgreSQL store turns them into psycopg's `%s`). What differs between the
two (upserts that must lock, identity columns) stays in each store's module."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from stepline.v1 import events_pb2, runner_pb2

from ..errors import StaleEpoch
from ..namespaces import split_run_key, split_workflow_key
from .base import NewCheckpoint, RunUpdate, StateRef

NEXT_WORKFLOW_VERSION = (
    "SELECT COALESCE(MAX(version), 0) + 1 FROM workflow_versions WHERE workflow_id = ?"
)
INSERT_WORKFLOW_VERSION = "INSERT INTO workflow_versions VALUES (?, ?, ?, ?, ?)"
UPSERT_WORKFLOW = (
    "INSERT INTO workflows (workflow_id, definition, graph_signature, updated_at, version,"
    " namespace) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (workflow_id) DO UPDATE"
    " SET definition = excluded.definition, graph_signature = excluded.graph_signature,"
    " updated_at = excluded.updated_at, version = excluded.version"
)
INSERT_RUN = (
    "INSERT INTO runs (run_id, workflow_id, status, superstep, latest_checkpoint_id,"
    " parent_checkpoint_id, parent_run_id, error, last_sequence, graph_signature,"
    " input_hash, created_at, updated_at, checkpoint_policy, workflow_version, epoch,"
    " namespace) VALUES (?,?,?,?,?,?,?,NULL,?,?,?,?,?,?,?,1,?)"
)
# The run's new status, and its events' sequence numbers reserved (RETURNING);
# no row when the writer's epoch (0: unfenced) is no longer the run's.
UPDATE_RUN = (
    "UPDATE runs SET status = ?, superstep = ?, error = ?, updated_at = ?,"
    " latest_checkpoint_id = COALESCE(?, latest_checkpoint_id),"
    " workflow_version = COALESCE(NULLIF(?, 0), workflow_version),"
    " last_sequence = last_sequence + ? WHERE run_id = ? AND ? IN (0, epoch)"
    " RETURNING last_sequence"
)
CLAIM_RUN = "UPDATE runs SET epoch = epoch + 1 WHERE run_id = ? RETURNING epoch"
# A run's checkpoints older than its newest N (retention's keep_last).
OLD_CHECKPOINTS = (
    "SELECT checkpoint_id FROM checkpoints WHERE run_id = ? AND seq < (SELECT MIN(seq)"
    " FROM (SELECT seq FROM checkpoints WHERE run_id = ? ORDER BY seq DESC LIMIT ?) AS newest)"
)
INSERT_CHECKPOINT = (
    "INSERT INTO checkpoints (checkpoint_id, run_id, superstep, parent_checkpoint_id,"
    " graph_signature, created_at, content) VALUES (?,?,?,?,?,?,?) RETURNING seq"
)
INSERT_EVENT = "INSERT INTO events VALUES (?, ?, ?, ?)"


def run_values(
    run: runner_pb2.Run, input_hash: str, checkpoint: NewCheckpoint, events: int, now: float
) -> tuple[Any, ...]:
    """INSERT_RUN's parameters: a new run at its first checkpoint, `events` logged."""
    return (
        run.run_id,
        run.workflow_id,
        run.status,
        checkpoint.superstep,
        checkpoint.checkpoint_id,
        run.parent_checkpoint_id,
        run.parent_run_id,
        events,
        run.graph_signature,
        input_hash,
        now,
        now,
        run.checkpoint_policy.SerializeToString() if run.HasField("checkpoint_policy") else None,
        run.workflow_version or 1,
        split_run_key(run.run_id)[0],  # the namespace its key names
    )


def workflow_values(
    workflow_id: str, definition: bytes, signature: str, now: float, version: int
) -> tuple[Any, ...]:
    """UPSERT_WORKFLOW's parameters: the latest version, in its key's namespace."""
    namespace = split_workflow_key(workflow_id)[0]
    return (workflow_id, definition, signature, now, version, namespace)


def last_sequence(row: Sequence[Any] | None, run_id: str, update: RunUpdate) -> int:
    """The run's last event sequence number from UPDATE_RUN's answer, or
    `StaleEpoch` when the update was fenced off (raised inside the
    transaction, it rolls back the checkpoint with it: nothing is kept)."""
    if row is None:
        raise StaleEpoch(run_id, update.epoch, "its commit was refused")
    return int(row[0])


def update_values(
    run_id: str, update: RunUpdate, checkpoint: NewCheckpoint | None, events: int, now: float
) -> tuple[Any, ...]:
    """UPDATE_RUN's parameters (the status first: SQLite sets it apart, see
    writes.update_run)."""
    return (
        update.status,
        update.superstep,
        update.error.SerializeToString() if update.error else None,
        now,
        checkpoint.checkpoint_id if checkpoint else None,
        update.workflow_version,
        events,
        run_id,
        update.epoch,
    )


def checkpoint_values(run_id: str, checkpoint: NewCheckpoint, now: float) -> tuple[Any, ...]:
    """INSERT_CHECKPOINT's parameters."""
    return (
        checkpoint.checkpoint_id,
        run_id,
        checkpoint.superstep,
        checkpoint.parent_checkpoint_id,
        checkpoint.graph_signature,
        now,
        checkpoint.content.SerializeToString(),
    )


def event_rows(
    run_id: str, events: list[events_pb2.Event], last_sequence: int
) -> list[tuple[str, int, int, bytes]]:
    """INSERT_EVENT's rows, numbered so the last is `last_sequence`; each event
    gets its run id and sequence (the stored body holds neither: the key does)."""
    return numbered_rows(run_id, events, event_bodies(events), last_sequence)


def event_bodies(events: list[events_pb2.Event]) -> list[bytes]:
    """What is stored of each event: all but its run id and sequence, which
    are cleared (an event is numbered as it is stored, see `numbered_rows`)."""
    bodies = []
    for event in events:
        if event.run_id or event.sequence:
            event.ClearField("run_id")
            event.ClearField("sequence")
        bodies.append(event.SerializeToString())
    return bodies


def numbered_rows(
    run_id: str, events: list[events_pb2.Event], bodies: list[bytes], last_sequence: int
) -> list[tuple[str, int, int, bytes]]:
    """INSERT_EVENT's rows of the events and their `event_bodies`, numbered so
    the last is `last_sequence`; each event gets its run id and sequence."""
    sequence = last_sequence - len(events)
    rows: list[tuple[str, int, int, bytes]] = []
    for event, body in zip(events, bodies, strict=True):
        sequence += 1
        rows.append((run_id, sequence, event.kind, body))
        event.run_id = run_id
        event.sequence = sequence
    return rows


def state_rows(
    run_id: str,
    checkpoint_seq: int,
    states: Mapping[str, StateRef],
    changed: Collection[str] | None,
) -> list[tuple[str, str, int, str, str, str]]:
    """Reference rows (run, executor, seq, hash, type name, content type): one
    for each executor in `changed` (None: all)."""
    return [
        (run_id, executor_id, checkpoint_seq, s.hash, s.type_name, s.content_type)
        for executor_id, s in states.items()
        if changed is None or executor_id in changed
    ]
