"""Statements a write transaction of the PostgreSQL store runs, on its connection.

The layout is the SQLite store's (states.py says how states are referenced by
change); what differs is concurrency. SQLite has one writer at a time; here
transactions of many runs (and runners) overlap, so a state blob shared by
two runs (forks, or equal states) could be dropped by one transaction's
garbage collection while another adds a reference to it. Both sides take the
blob's row lock first, in hash order: a writer by inserting it with
`ON CONFLICT DO UPDATE` (which locks an existing row, or re-inserts one deleted
meanwhile), the collector with `FOR UPDATE` before it looks, in a statement of
its own, for references (so it sees every writer that committed before it).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from typing import Any

from psycopg import AsyncConnection

from stepline.v1 import events_pb2

from .base import NewCheckpoint
from .deletion import RunDeletion
from .statements import (
    INSERT_CHECKPOINT,
    INSERT_EVENT,
    checkpoint_values,
    event_rows,
    state_rows,
)

Connection = AsyncConnection[tuple[Any, ...]]

# Each executor's reference with the greatest since_seq not after the checkpoint.
LOAD_STATES = """
SELECT refs.executor_id, refs.blob_hash, refs.type_name, refs.content_type, blobs.data
FROM (
    SELECT DISTINCT ON (executor_id) executor_id, blob_hash, type_name, content_type
    FROM checkpoint_states WHERE run_id = ? AND since_seq <= ?
    ORDER BY executor_id, since_seq DESC
) refs LEFT JOIN blobs ON blobs.hash = refs.blob_hash
"""


@functools.cache
def pg(statement: str) -> str:
    """A statement written for both stores (placeholders `?`) in psycopg's
    terms (`%s`); none of them holds a `?` or `%` of its own."""
    return statement.replace("%", "%%").replace("?", "%s")


async def insert_checkpoint(
    db: Connection, run_id: str, checkpoint: NewCheckpoint, now: float
) -> None:
    await db.execute(pg(INSERT_CHECKPOINT), checkpoint_values(run_id, checkpoint, now))
    await insert_states(db, run_id, checkpoint, checkpoint.changed)


async def insert_states(
    db: Connection, run_id: str, checkpoint: NewCheckpoint, changed: Collection[str] | None
) -> None:
    """The bytes nobody stored yet (locking those already there, see above),
    and a reference for each executor in `changed` (None: every executor).
    The references find the checkpoint's seq themselves: nothing waits for
    the checkpoint's insert to answer (pipeline mode)."""
    states = checkpoint.states
    new_blobs = sorted({(s.hash, s.data) for s in states.values() if s.data is not None})
    rows = [
        (run, executor_id, blob, type_name, content_type, checkpoint.checkpoint_id)
        for run, executor_id, _, blob, type_name, content_type in state_rows(
            run_id, 0, states, changed
        )
    ]
    async with db.cursor() as cursor:
        if new_blobs:
            await cursor.executemany(
                "INSERT INTO blobs VALUES (%s, %s)"
                " ON CONFLICT (hash) DO UPDATE SET hash = blobs.hash",
                new_blobs,
            )
        if rows:
            await cursor.executemany(
                "INSERT INTO checkpoint_states SELECT %s, %s, seq, %s, %s, %s"
                " FROM checkpoints WHERE checkpoint_id = %s",
                rows,
            )


async def insert_events(
    db: Connection, run_id: str, events: list[events_pb2.Event], last_sequence: int
) -> list[events_pb2.Event]:
    """Number the events so the last one is `last_sequence`, and insert them."""
    rows = event_rows(run_id, events, last_sequence)
    if rows:
        async with db.cursor() as cursor:
            await cursor.executemany(pg(INSERT_EVENT), rows)
    return events


async def delete_checkpoints(db: Connection, run_id: str, checkpoint_ids: Sequence[str]) -> int:
    """Delete checkpoints of a run, and what only they used; return blobs dropped."""
    if not checkpoint_ids:
        return 0
    await db.execute(
        "DELETE FROM checkpoints WHERE run_id = %s AND checkpoint_id = ANY(%s)",
        (run_id, list(checkpoint_ids)),
    )
    return await collect_garbage(db, run_id)


async def collect_garbage(db: Connection, run_id: str) -> int:
    """After checkpoints of a run were deleted: drop the references no remaining
    checkpoint uses, then the blobs nothing references. Returns blobs dropped."""
    cursor = await db.execute(
        """
        DELETE FROM checkpoint_states s
        WHERE s.run_id = %(run)s AND NOT EXISTS (
            SELECT 1 FROM checkpoints c WHERE c.run_id = %(run)s AND c.seq >= s.since_seq
            AND c.seq < coalesce((
                SELECT min(n.since_seq) FROM checkpoint_states n
                WHERE n.run_id = %(run)s AND n.executor_id = s.executor_id
                AND n.since_seq > s.since_seq), 4611686018427387904))
        RETURNING s.blob_hash
        """,
        {"run": run_id},
    )
    return await drop_unreferenced(db, [str(r[0]) for r in await cursor.fetchall()])


async def drop_unreferenced(db: Connection, hashes: Collection[str]) -> int:
    """Delete the blobs among `hashes` that no reference uses; how many went."""
    if not hashes:
        return 0
    ordered = sorted(set(hashes))
    await db.execute(
        "SELECT 1 FROM blobs WHERE hash = ANY(%s) ORDER BY hash FOR UPDATE", (ordered,)
    )
    # A statement of its own: its snapshot, taken after the locks, sees every
    # reference committed by a writer that held one of them.
    cursor = await db.execute(
        "DELETE FROM blobs b WHERE b.hash = ANY(%s) AND NOT EXISTS"
        " (SELECT 1 FROM checkpoint_states s WHERE s.blob_hash = b.hash) RETURNING 1",
        (ordered,),
    )
    return len(await cursor.fetchall())


async def delete_run(db: Connection, run_id: str) -> RunDeletion:
    """Delete the run and everything only it holds, inside the caller's transaction."""
    events = await db.execute("DELETE FROM events WHERE run_id = %s", (run_id,))
    checkpoints = await db.execute("DELETE FROM checkpoints WHERE run_id = %s", (run_id,))
    cursor = await db.execute(
        "DELETE FROM checkpoint_states WHERE run_id = %s RETURNING blob_hash", (run_id,)
    )
    blobs = await drop_unreferenced(db, [str(r[0]) for r in await cursor.fetchall()])
    await db.execute("DELETE FROM runs WHERE run_id = %s", (run_id,))
    return RunDeletion(checkpoints.rowcount, events.rowcount, blobs)
