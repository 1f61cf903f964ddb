"""Statements a write transaction of the SQLite store runs, on its connection."""

from __future__ import annotations

import aiosqlite

from stepline.v1 import events_pb2

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
    first = last_sequence - len(events) + 1
    rows = []
    for offset, event in enumerate(events):
        # The key holds the run and the sequence; the body need not repeat them.
        event.ClearField("run_id")
        event.ClearField("sequence")
        rows.append((run_id, first + offset, event.kind, event.SerializeToString()))
        event.run_id, event.sequence = run_id, first + offset
    if rows:
        await db.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", rows)
    return events
