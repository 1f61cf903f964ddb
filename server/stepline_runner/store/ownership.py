"""One runner per database file: two on one file would both drive (and
resume) the same runs, so a store takes `<db>.lock` for its process first."""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import IO


class DatabaseInUse(RuntimeError):
    """Another runner has the database open."""


def own(path: Path) -> IO[bytes]:
    """Lock `<db>.lock` for this process until the returned file is closed.
    The kernel drops the lock if the process dies."""
    owner = open(f"{path}.lock", "ab")  # noqa: SIM115 - held until close()
    try:
        fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner.close()
        raise DatabaseInUse(
            f"another runner has {path} open; stop it, or give this one another --db"
        ) from None
    return owner
