-- What Stepline's schema version 3 wrote (PRAGMA user_version = 3), with
-- one workflow and one run of it: the starting point of the migration to
-- workflow versions.
CREATE TABLE workflows (
    workflow_id TEXT PRIMARY KEY,
    definition BLOB NOT NULL,          -- WorkflowDefinition
    graph_signature TEXT NOT NULL,
    updated_at REAL NOT NULL
);
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
    checkpoint_policy BLOB             -- CheckpointPolicy; NULL: the workflow's
);
CREATE INDEX runs_by_workflow ON runs (workflow_id, seq);
CREATE INDEX runs_by_status ON runs (status);
CREATE TABLE checkpoints (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
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
CREATE TABLE checkpoint_states (
    run_id TEXT NOT NULL,
    executor_id TEXT NOT NULL,
    since_seq INTEGER NOT NULL,
    blob_hash TEXT NOT NULL,
    type_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    PRIMARY KEY (run_id, executor_id, since_seq)
) WITHOUT ROWID;
CREATE INDEX checkpoint_states_by_blob ON checkpoint_states (blob_hash);
CREATE TABLE events (
    run_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    body BLOB NOT NULL,                -- Event
    PRIMARY KEY (run_id, sequence)
) WITHOUT ROWID;
INSERT INTO workflows VALUES ('w', x'0a0177121a0a0178120e3132372e302e302e313a373030311a057374616765220178', 'sig-w', 1700000000.0);
INSERT INTO runs (run_id, workflow_id, status, superstep, latest_checkpoint_id,
    parent_checkpoint_id, parent_run_id, last_sequence, graph_signature, input_hash,
    created_at, updated_at) VALUES ('old', 'w', 5, 2, 'c2', '', '', 7, 'sig-w', 'h', 0, 0);
INSERT INTO checkpoints (checkpoint_id, run_id, superstep, parent_checkpoint_id,
    graph_signature, created_at, content) VALUES ('c2', 'old', 2, '', 'sig-w', 0, x'');
PRAGMA user_version = 3;
