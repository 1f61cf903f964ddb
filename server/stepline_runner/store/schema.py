"""The SQLite schema, its version, and the migration of older databases.

A change to the schema bumps SCHEMA_VERSION, edits SCHEMA (what a new
database gets) and adds to MIGRATIONS the statements that bring a database of
the previous version to the new one.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 10

# version -> statements that turn a database of that version into the next.
MIGRATIONS: dict[int, str] = {
    1: "ALTER TABLE runs ADD COLUMN checkpoint_policy BLOB;",
    # State references by change, not by checkpoint (see states.py). Old rows
    # stay exact: one per checkpoint and executor.
    2: """
ALTER TABLE checkpoint_states RENAME TO checkpoint_states_v2;
CREATE TABLE checkpoint_states (
    run_id TEXT NOT NULL,
    executor_id TEXT NOT NULL,
    since_seq INTEGER NOT NULL,
    blob_hash TEXT NOT NULL,
    type_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    PRIMARY KEY (run_id, executor_id, since_seq)
) WITHOUT ROWID;
INSERT INTO checkpoint_states
    SELECT c.run_id, s.executor_id, c.seq, s.blob_hash, s.type_name, s.content_type
    FROM checkpoint_states_v2 s JOIN checkpoints c USING (checkpoint_id);
DROP TABLE checkpoint_states_v2;
CREATE INDEX checkpoint_states_by_blob ON checkpoint_states (blob_hash);
""",
    # Workflow versions: what was registered is version 1, and every run uses it.
    3: """
CREATE TABLE workflow_versions (
    workflow_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    definition BLOB NOT NULL,
    graph_signature TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (workflow_id, version)
) WITHOUT ROWID;
INSERT INTO workflow_versions
    SELECT workflow_id, 1, definition, graph_signature, updated_at FROM workflows;
ALTER TABLE workflows ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE runs ADD COLUMN workflow_version INTEGER NOT NULL DEFAULT 1;
""",
    # Schedules (engine/schedules.py), and the index concurrency limits count with.
    4: """
CREATE TABLE schedules (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- creation order, for paging
    schedule_id TEXT NOT NULL UNIQUE,
    workflow_id TEXT NOT NULL,
    body BLOB NOT NULL,                -- Schedule: what was asked, and where it is
    updated_at REAL NOT NULL
);
CREATE INDEX schedules_by_workflow ON schedules (workflow_id, seq);
-- Counting a workflow's runs in some statuses (max_concurrent_runs).
CREATE INDEX runs_by_workflow_status ON runs (workflow_id, status);
""",
    # Run epochs (fencing): a run of an older database was never fenced.
    5: "ALTER TABLE runs ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;",
    # Namespaces: what exists belongs to "default" (whose keys are the ids).
    6: """
ALTER TABLE workflows ADD COLUMN namespace TEXT NOT NULL DEFAULT 'default';
ALTER TABLE runs ADD COLUMN namespace TEXT NOT NULL DEFAULT 'default';
CREATE INDEX workflows_by_namespace ON workflows (namespace);
CREATE INDEX runs_by_namespace ON runs (namespace, seq);
ALTER TABLE schedules ADD COLUMN namespace TEXT NOT NULL DEFAULT 'default';
CREATE INDEX schedules_by_namespace ON schedules (namespace, seq);
""",
    # Leases (several runners on one PostgreSQL database; unused on SQLite).
    7: """
ALTER TABLE runs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN lease_until REAL NOT NULL DEFAULT 0;
""",
    # Runners and their duties (several runners on one PostgreSQL database):
    # nothing on SQLite, which one runner has to itself.
    8: "",
    # What a superstep's commit writes, fewer pages: checkpoints without
    # AUTOINCREMENT (no sqlite_sequence row to update; a seq is reused only
    # after the run holding the greatest was deleted whole, and nothing of it
    # is left to refer to it), and small states stored with their reference
    # (states.py), so neither a blob nor an index entry is written for them.
    9: """
CREATE TABLE checkpoints_v10 (
    seq INTEGER PRIMARY KEY,
    checkpoint_id TEXT NOT NULL UNIQUE,
    run_id TEXT NOT NULL,
    superstep INTEGER NOT NULL,
    parent_checkpoint_id TEXT NOT NULL,
    graph_signature TEXT NOT NULL,
    created_at REAL NOT NULL,
    content BLOB NOT NULL
);
INSERT INTO checkpoints_v10 SELECT seq, checkpoint_id, run_id, superstep, parent_checkpoint_id,
    graph_signature, created_at, content FROM checkpoints;
DROP TABLE checkpoints;
ALTER TABLE checkpoints_v10 RENAME TO checkpoints;
CREATE INDEX checkpoints_by_run ON checkpoints (run_id, seq);
ALTER TABLE checkpoint_states ADD COLUMN data BLOB;
DROP INDEX checkpoint_states_by_blob;
CREATE INDEX checkpoint_states_by_blob ON checkpoint_states (blob_hash) WHERE data IS NULL;
""",
}

SCHEMA = """
-- The latest version of each workflow (what new runs use). Ids of workflows
-- and runs are keys unique across namespaces (see namespaces.py).
CREATE TABLE workflows (
    workflow_id TEXT PRIMARY KEY,
    definition BLOB NOT NULL,          -- WorkflowDefinition
    graph_signature TEXT NOT NULL,
    updated_at REAL NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    namespace TEXT NOT NULL DEFAULT 'default'
);
CREATE INDEX workflows_by_namespace ON workflows (namespace);
-- Every version ever registered: immutable, runs are pinned to one.
CREATE TABLE workflow_versions (
    workflow_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    definition BLOB NOT NULL,
    graph_signature TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (workflow_id, version)
) WITHOUT ROWID;
CREATE TABLE runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- creation order, for paging
    run_id TEXT NOT NULL UNIQUE,
    workflow_id TEXT NOT NULL,
    status INTEGER NOT NULL,
    superstep INTEGER NOT NULL,
    latest_checkpoint_id TEXT NOT NULL,
    parent_checkpoint_id TEXT NOT NULL,
    parent_run_id TEXT NOT NULL,
    error BLOB,                        -- ErrorInfo
    last_sequence INTEGER NOT NULL,
    graph_signature TEXT NOT NULL,
    input_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    checkpoint_policy BLOB,            -- CheckpointPolicy; NULL: the workflow's
    workflow_version INTEGER NOT NULL DEFAULT 1,
    epoch INTEGER NOT NULL DEFAULT 0,  -- raised at every takeover; fences commits
    namespace TEXT NOT NULL DEFAULT 'default',
    owner TEXT NOT NULL DEFAULT '',    -- the runner holding the lease (postgres_leases.py)
    lease_until REAL NOT NULL DEFAULT 0
);
CREATE INDEX runs_by_workflow ON runs (workflow_id, seq);
CREATE INDEX runs_by_namespace ON runs (namespace, seq);
CREATE INDEX runs_by_status ON runs (status);
CREATE TABLE schedules (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- creation order, for paging
    schedule_id TEXT NOT NULL UNIQUE,
    workflow_id TEXT NOT NULL,
    body BLOB NOT NULL,                -- Schedule: what was asked, and where it is
    updated_at REAL NOT NULL,
    namespace TEXT NOT NULL DEFAULT 'default'
);
CREATE INDEX schedules_by_workflow ON schedules (workflow_id, seq);
CREATE INDEX schedules_by_namespace ON schedules (namespace, seq);
-- Counting a workflow's runs in some statuses (max_concurrent_runs).
CREATE INDEX runs_by_workflow_status ON runs (workflow_id, status);
-- seq: creation order (no AUTOINCREMENT: see MIGRATIONS[9]).
CREATE TABLE checkpoints (
    seq INTEGER PRIMARY KEY,
    checkpoint_id TEXT NOT NULL UNIQUE,
    run_id TEXT NOT NULL,
    superstep INTEGER NOT NULL,
    parent_checkpoint_id TEXT NOT NULL,
    graph_signature TEXT NOT NULL,
    created_at REAL NOT NULL,
    content BLOB NOT NULL              -- CheckpointContent without executor states
);
CREATE INDEX checkpoints_by_run ON checkpoints (run_id, seq);
-- Executor states by content hash: an unchanged state costs no new bytes.
CREATE TABLE blobs (
    hash TEXT PRIMARY KEY,
    data BLOB NOT NULL
) WITHOUT ROWID;
-- A state reference where an executor's state changed: it stands for every
-- checkpoint of the run from since_seq (checkpoints.seq) to the executor's next.
-- A small state's bytes are `data`; NULL: they are the blob `blob_hash`.
CREATE TABLE checkpoint_states (
    run_id TEXT NOT NULL,
    executor_id TEXT NOT NULL,
    since_seq INTEGER NOT NULL,
    blob_hash TEXT NOT NULL,
    type_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    data BLOB,
    PRIMARY KEY (run_id, executor_id, since_seq)
) WITHOUT ROWID;
-- Which references keep a blob (garbage collection).
CREATE INDEX checkpoint_states_by_blob ON checkpoint_states (blob_hash) WHERE data IS NULL;
CREATE TABLE events (
    run_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    body BLOB NOT NULL,                -- Event
    PRIMARY KEY (run_id, sequence)
) WITHOUT ROWID;
"""


class SchemaError(RuntimeError):
    """The database was written by a newer Stepline, or is not a Stepline database."""


def migrate(db: sqlite3.Connection) -> None:
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"the database has schema version {version}, newer than this runner's "
            f"{SCHEMA_VERSION}: upgrade Stepline, or point --db at another file"
        )
    if version == 0:
        (tables,) = db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        if tables:
            raise SchemaError("the database is not a Stepline database (it has other tables)")
        script = SCHEMA
    else:
        script = "".join(MIGRATIONS[v] for v in range(version, SCHEMA_VERSION))
    if version != SCHEMA_VERSION:
        # One transaction: a crash mid-migration leaves the old version intact.
        db.executescript(f"BEGIN;{script}PRAGMA user_version = {SCHEMA_VERSION};COMMIT;")
