"""What a failed SQLite call means for the caller: the store is full, out of
reach for now, or its data is damaged. The gRPC layer turns these into
RESOURCE_EXHAUSTED, UNAVAILABLE and DATA_LOSS; none of them is the caller's
fault, and the first two pass (free some space, stop the other program)."""

from __future__ import annotations

import sqlite3
from enum import Enum


class StoreFailure(Enum):
    FULL = "full"
    UNAVAILABLE = "unavailable"
    DAMAGED = "damaged"


_UNAVAILABLE = {"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_READONLY"}
_DAMAGED = {"SQLITE_CORRUPT", "SQLITE_NOTADB"}


def classify(exc: sqlite3.Error) -> tuple[StoreFailure, str] | None:
    """The kind of failure and a message saying what to do; None for an
    error that is the runner's own (a bug)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    base = "_".join(name.split("_")[:2])  # SQLITE_IOERR_WRITE -> SQLITE_IOERR
    text = str(exc)
    if base == "SQLITE_FULL" or "disk is full" in text:
        return StoreFailure.FULL, (
            f"the runner's database is full ({text}): nothing was changed; free disk space "
            "(or delete old checkpoints and runs), then try again"
        )
    if base in _UNAVAILABLE or base == "SQLITE_IOERR" or "locked" in text:
        return StoreFailure.UNAVAILABLE, (
            f"the runner's database cannot be used right now ({text}): nothing was changed; "
            "another program may hold it locked, or its disk is failing. Try again shortly"
        )
    if base in _DAMAGED:
        return StoreFailure.DAMAGED, f"the runner's database is damaged ({text})"
    return None
