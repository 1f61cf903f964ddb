"""`held`: a `stage` (stages.py) that, once armed, holds the runner between
two supersteps: its Execute at hop LOCK_AT takes the runner's database write
lock (as another program could) once the superstep before is committed, so
that superstep's own commit waits, and its
Execute at the next hop marks `entered` and waits for `released` (or its
cancel, when the runner's stream breaks), then lets the lock go and marks
`unlocked`. Once: a re-run passes straight through.

Environment: STEPLINE_HOLD_DIR (the marker files `armed`, `entered`,
`released`, `unlocked`), STEPLINE_HOLD_DB (the database), STEPLINE_LOCK_AT.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

# Run as a script, this folder is on sys.path (the repository root is not).
from stages import Stage, Token  # type: ignore[import-not-found]

from stepline import WorkflowContext, handler, run_executors

HOLD = Path(os.environ.get("STEPLINE_HOLD_DIR", "."))
LOCK_AT = int(os.environ.get("STEPLINE_LOCK_AT", "3"))
_lock: list[sqlite3.Connection] = []


def _armed() -> bool:
    return (HOLD / "armed").exists() and not (HOLD / "entered").exists()


async def _until(look: Callable[[], bool]) -> None:
    """Poll what another process writes (a file, a table) until `look` holds."""
    while True:
        if look():
            return
        await asyncio.sleep(0.01)


def _committed(db: sqlite3.Connection, run_id: str) -> int:
    row = db.execute("SELECT superstep FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    return int(row[0])


class Held(Stage):
    @handler(sends=(Token,), yields=(dict,))
    async def on_token(self, token: Token, ctx: WorkflowContext) -> None:
        if token.hops == LOCK_AT and _armed():
            db = sqlite3.connect(os.environ["STEPLINE_HOLD_DB"], isolation_level=None)
            # The last superstep's commit may still be under way: it lands first.
            await _until(lambda: _committed(db, ctx.run_id) >= ctx.superstep - 1)
            db.execute("BEGIN IMMEDIATE")  # the runner's next commit waits for it
            _lock.append(db)
        elif token.hops == LOCK_AT + 1 and _armed() and _lock:
            (HOLD / "entered").touch()  # sent while the last superstep's commit waits
            try:
                await _until((HOLD / "released").exists)
            finally:  # released, or cancelled with the runner's stream
                _lock.pop().rollback()
                (HOLD / "unlocked").touch()
        await super().on_token(token, ctx)


if __name__ == "__main__":
    run_executors({"held": Held}, port=int(os.environ.get("STEPLINE_PORT", "0")))
