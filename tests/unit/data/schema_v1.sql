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
    updated_at REAL NOT NULL
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
CREATE TABLE checkpoint_states (
    checkpoint_id TEXT NOT NULL,
    executor_id TEXT NOT NULL,
    blob_hash TEXT NOT NULL,
    type_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    PRIMARY KEY (checkpoint_id, executor_id)
) WITHOUT ROWID;
CREATE INDEX checkpoint_states_by_blob ON checkpoint_states (blob_hash);
CREATE TABLE events (
    run_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    body BLOB NOT NULL,                -- Event
    PRIMARY KEY (run_id, sequence)
) WITHOUT ROWID;
