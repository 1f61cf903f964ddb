"""Calls into SQLite, and what a failed one means for the caller.

A full disk, a database another program holds locked and damaged data are
nobody's request's fault. `translated` turns such a `sqlite3.Error` into the
runner's own error (`StoreFull`, `StoreUnavailable`, `DataLoss`) where the
store meets SQLite: around the writer's transactions and the store's reads. Any other
`sqlite3.Error` is a bug of the runner's and goes up as it is.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

from ..errors import DataLoss, SteplineError, StoreFull, StoreUnavailable

_UNAVAILABLE = {"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_READONLY"}
_DAMAGED = {"SQLITE_CORRUPT", "SQLITE_NOTADB"}


def store_error(exc: sqlite3.Error) -> SteplineError | None:
    """The runner's error for a failed SQLite call, with a message saying what
    to do; None for an error that is the runner's own (a bug)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    base = "_".join(name.split("_")[:2])  # SQLITE_IOERR_WRITE -> SQLITE_IOERR
    text = str(exc)
    if base == "SQLITE_FULL" or "disk is full" in text:
        return StoreFull(
            f"the runner's database is full ({text}): nothing was changed; free disk space "
            "(or delete old checkpoints and runs), then try again"
        )
    if base in _UNAVAILABLE or base == "SQLITE_IOERR" or "locked" in text:
        return StoreUnavailable(
            f"the runner's database cannot be used right now ({text}): nothing was changed; "
            "another program may hold it locked, or its disk is failing. Try again shortly"
        )
    if base in _DAMAGED:
        return DataLoss(f"the runner's database is damaged ({text})")
    return None


@contextmanager
def translated() -> Iterator[None]:
    """Raise the runner's error for a failed SQLite call in the block."""
    try:
        yield
    except sqlite3.Error as exc:
        reraise(exc)


def reraise(exc: sqlite3.Error) -> NoReturn:
    """Raise the runner's error for `exc`, or `exc` itself (a bug)."""
    error = store_error(exc)
    if error is None:
        raise exc
    raise error from exc
