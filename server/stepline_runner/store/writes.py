"""Statements a write transaction of the SQLite store runs, on its connection."""

from __future__ import annotations

import aiosqlite

from stepline.v1 import events_pb2

from .statements import INSERT_EVENT, event_rows
from .states import collect_garbage


async def delete_checkpoints(
    db: aiosqlite.Connection, run_id: str, checkpoint_ids: list[str]
) -> int:
    """Delete checkpoints of a run, and what only they used; return blobs dropped."""
    if not checkpoint_ids:
        return 0
    marks = ",".join("?" * len(checkpoint_ids))
    await db.execute(f"DELETE FROM checkpoints WHERE checkpoint_id IN ({marks})", checkpoint_ids)
    return await collect_garbage(db, run_id)


async def insert_events(
    db: aiosqlite.Connection, run_id: str, events: list[events_pb2.Event], last_sequence: int
) -> list[events_pb2.Event]:
    """Number the events so the last one is `last_sequence`, and insert them."""
    rows = event_rows(run_id, events, last_sequence)
    if rows:
        await db.executemany(INSERT_EVENT, rows)
    return events
