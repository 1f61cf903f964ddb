"""Transactions of many runs overlap on PostgreSQL (SQLite has one writer):
a run deleted while another run commits a checkpoint holding the same state
must not take that state's blob with it (postgres_writes.py says how both
sides lock the blob). Here the commit holds the blob's lock, the deletion
waits for it, and the blob stays for the committed checkpoint."""

from __future__ import annotations

import asyncio

from stepline import payloads
from stepline.payloads import state_hash
from stepline.v1 import events_pb2 as E
from stepline.v1 import runner_pb2
from stepline_runner.store.base import NewCheckpoint, StateRef
from stepline_runner.store.postgres import PostgresStore
from stepline_runner.store.postgres_writes import insert_checkpoint
from tests.support.postgres import TemporaryPostgres
from tests.support.stores import rows

STATE = payloads.encode({"shared": True}, type_name="S")
REF = StateRef(state_hash(STATE), STATE.type_name, STATE.content_type, STATE.data)


def checkpoint(checkpoint_id: str, superstep: int, ref: StateRef) -> NewCheckpoint:
    return NewCheckpoint(
        checkpoint_id=checkpoint_id,
        superstep=superstep,
        parent_checkpoint_id="",
        graph_signature="g",
        states={"x": ref},
        content=runner_pb2.CheckpointContent(),
    )


async def start(store: PostgresStore, run_id: str, ref: StateRef) -> None:
    run = runner_pb2.Run(run_id=run_id, workflow_id="w", status=E.RUN_STATUS_COMPLETED)
    await store.create_run(run, "", checkpoint(f"{run_id}-0", 0, ref), [])


async def waiting_for_a_lock(url: str) -> None:
    """Until some backend of the database waits for a row lock."""
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock'"
    )
    async with asyncio.timeout(30):
        while not (await asyncio.to_thread(rows, url, query))[0][0]:
            continue  # each look is a query: the server's own view of its locks


async def test_a_deleted_run_leaves_a_blob_that_a_concurrent_commit_references(
    postgres_server: TemporaryPostgres,
) -> None:
    url = postgres_server.new_database()
    store = await PostgresStore.open(url)
    try:
        await start(store, "old", REF)  # the only reference to the blob, so far
        other = payloads.encode({"shared": False}, type_name="S")
        await start(store, "new", StateRef(state_hash(other), "S", other.content_type, other.data))

        async with store.transaction() as db:  # "new" commits the same state...
            await insert_checkpoint(db, "new", checkpoint("new-1", 1, REF), 0.0)
            deleting = asyncio.create_task(store.delete_run("old"))  # ...as "old" goes
            await waiting_for_a_lock(url)
            assert not deleting.done()
        deleted = await deleting

        assert deleted.blobs == 0  # the blob was referenced again when it looked
        stored = await store.get_checkpoint("new-1", include_content=True)
        assert stored is not None and stored.content.executor_states["x"] == STATE
        assert rows(url, "SELECT count(*) FROM blobs") == [(2,)]
    finally:
        await store.close()
