"""The PostgreSQL schema, its version, and the migration of older databases.

The PostgreSQL store keeps the SQLite store's schema version (schema.py): both
describe the same records, so a change to one is a change to the other. A
change bumps SCHEMA_VERSION there, edits both SCHEMA texts and adds to both
MIGRATIONS; a unit test holds the two in step. PostgreSQL databases begin at
FIRST_VERSION, the version the store was born with.

The version is the one row of `stepline_schema`. Migrating takes an advisory
lock first, so runners starting together on one database migrate it once.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from .schema import SCHEMA_VERSION, SchemaError

FIRST_VERSION = 6

# version -> statements that turn a database of that version into the next.
MIGRATIONS: dict[int, str] = {
    # Namespaces: what exists belongs to "default" (whose keys are the ids).
    6: """
ALTER TABLE workflows ADD COLUMN namespace TEXT NOT NULL DEFAULT 'default';
ALTER TABLE runs ADD COLUMN namespace TEXT NOT NULL DEFAULT 'default';
ALTER TABLE schedules ADD COLUMN namespace TEXT NOT NULL DEFAULT 'default';
CREATE INDEX workflows_by_namespace ON workflows (namespace, seq);
CREATE INDEX runs_by_namespace ON runs (namespace, seq);
CREATE INDEX schedules_by_namespace ON schedules (namespace, seq);
""",
    # Leases (several runners on one database: postgres_leases.py).
    7: """
ALTER TABLE runs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN lease_until DOUBLE PRECISION NOT NULL DEFAULT 0;
""",
    # The runners sharing the database, and the duties one of them does at a time.
    8: """
CREATE TABLE runners (
    runner_id TEXT PRIMARY KEY,
    alive_until DOUBLE PRECISION NOT NULL
);
CREATE TABLE duties (
    duty TEXT PRIMARY KEY,
    runner_id TEXT NOT NULL,
    lease_until DOUBLE PRECISION NOT NULL
);
""",
    # How SQLite keeps checkpoints and small states (schema.py): nothing here.
    9: "",
}

# Any 64-bit number, the same in every runner: the lock migrations take.
MIGRATION_LOCK = 0x5354_4550_4C49_4E45  # "STEPLINE"

SCHEMA = """
CREATE TABLE stepline_schema (version INTEGER NOT NULL);
-- The latest version of each workflow (what new runs use); seq: registration order.
CREATE TABLE workflows (
    seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    workflow_id TEXT PRIMARY KEY,
    definition BYTEA NOT NULL,          -- WorkflowDefinition
    graph_signature TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    namespace TEXT NOT NULL DEFAULT 'default'
);
CREATE INDEX workflows_by_namespace ON workflows (namespace, seq);
-- Every version ever registered: immutable, runs are pinned to one.
CREATE TABLE workflow_versions (
    workflow_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    definition BYTEA NOT NULL,
    graph_signature TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (workflow_id, version)
);
CREATE TABLE runs (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- creation order, for paging
    run_id TEXT NOT NULL UNIQUE,
    workflow_id TEXT NOT NULL,
    status INTEGER NOT NULL,
    superstep BIGINT NOT NULL,
    latest_checkpoint_id TEXT NOT NULL,
    parent_checkpoint_id TEXT NOT NULL,
    parent_run_id TEXT NOT NULL,
    error BYTEA,                        -- ErrorInfo
    last_sequence BIGINT NOT NULL,
    graph_signature TEXT NOT NULL,
    input_hash TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    checkpoint_policy BYTEA,            -- CheckpointPolicy; NULL: the workflow's
    workflow_version INTEGER NOT NULL DEFAULT 1,
    epoch BIGINT NOT NULL DEFAULT 0,    -- raised at every takeover; fences commits
    namespace TEXT NOT NULL DEFAULT 'default',
    owner TEXT NOT NULL DEFAULT '',     -- the runner holding the lease (postgres_leases.py)
    lease_until DOUBLE PRECISION NOT NULL DEFAULT 0  -- the server's clock, epoch seconds
);
CREATE INDEX runs_by_workflow ON runs (workflow_id, seq);
CREATE INDEX runs_by_namespace ON runs (namespace, seq);
CREATE INDEX runs_by_status ON runs (status, updated_at);
-- Counting a workflow's runs in some statuses (max_concurrent_runs).
CREATE INDEX runs_by_workflow_status ON runs (workflow_id, status);
CREATE TABLE schedules (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- creation order, for paging
    schedule_id TEXT NOT NULL UNIQUE,
    workflow_id TEXT NOT NULL,
    body BYTEA NOT NULL,                -- Schedule: what was asked, and where it is
    updated_at DOUBLE PRECISION NOT NULL,
    namespace TEXT NOT NULL DEFAULT 'default'
);
CREATE INDEX schedules_by_workflow ON schedules (workflow_id, seq);
CREATE INDEX schedules_by_namespace ON schedules (namespace, seq);
-- The runners sharing the database (postgres_leases.py): live while
-- alive_until (the server's clock) is ahead; each renews its row by heartbeat.
CREATE TABLE runners (
    runner_id TEXT PRIMARY KEY,
    alive_until DOUBLE PRECISION NOT NULL
);
-- What one runner at a time does (firing schedules, retention): who, until when.
CREATE TABLE duties (
    duty TEXT PRIMARY KEY,
    runner_id TEXT NOT NULL,
    lease_until DOUBLE PRECISION NOT NULL
);
CREATE TABLE checkpoints (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    checkpoint_id TEXT NOT NULL UNIQUE,
    run_id TEXT NOT NULL,
    superstep BIGINT NOT NULL,
    parent_checkpoint_id TEXT NOT NULL,
    graph_signature TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    content BYTEA NOT NULL              -- CheckpointContent without executor states
);
CREATE INDEX checkpoints_by_run ON checkpoints (run_id, seq);
-- Executor states by content hash: an unchanged state costs no new bytes.
CREATE TABLE blobs (
    hash TEXT PRIMARY KEY,
    data BYTEA NOT NULL
);
-- A state reference where an executor's state changed (see states.py).
CREATE TABLE checkpoint_states (
    run_id TEXT NOT NULL,
    executor_id TEXT NOT NULL,
    since_seq BIGINT NOT NULL,
    blob_hash TEXT NOT NULL,
    type_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    PRIMARY KEY (run_id, executor_id, since_seq)
);
CREATE INDEX checkpoint_states_by_blob ON checkpoint_states (blob_hash);
CREATE TABLE events (
    run_id TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    kind INTEGER NOT NULL,
    body BYTEA NOT NULL,                -- Event
    PRIMARY KEY (run_id, sequence)
);
"""


async def migrate(db: AsyncConnection[tuple[Any, ...]]) -> None:
    """Bring the database (the connection's current schema) to SCHEMA_VERSION,
    in one transaction; SchemaError if it is newer or not a Stepline database."""
    async with db.transaction():
        await db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        version = await _version(db)
        if version > SCHEMA_VERSION:
            raise SchemaError(
                f"the database has schema version {version}, newer than this runner's "
                f"{SCHEMA_VERSION}: upgrade Stepline, or point --store at another database"
            )
        if version == 0:
            script = SCHEMA
        else:
            script = "".join(MIGRATIONS[v] for v in range(version, SCHEMA_VERSION))
        if version != SCHEMA_VERSION:
            await db.execute(script.encode())  # several statements: a simple query
            await db.execute("DELETE FROM stepline_schema")
            await db.execute("INSERT INTO stepline_schema VALUES (%s)", (SCHEMA_VERSION,))


async def _version(db: AsyncConnection[tuple[Any, ...]]) -> int:
    """0 for an empty schema; SchemaError for one holding other tables."""
    cursor = await db.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    )
    tables = {str(row[0]) for row in await cursor.fetchall()}
    if "stepline_schema" in tables:
        cursor = await db.execute("SELECT max(version) FROM stepline_schema")
        row = await cursor.fetchone()
        return int(row[0]) if row and row[0] is not None else 0
    if tables:
        names = ", ".join(sorted(tables)[:5])
        raise SchemaError(f"the database is not a Stepline database (it has other tables: {names})")
    return 0
