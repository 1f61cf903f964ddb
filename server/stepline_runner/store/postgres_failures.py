"""Calls into PostgreSQL, and what a failed one means for the caller.

As in failures.py for SQLite: a server that cannot be reached, a full disk or
damaged data are nobody's request's fault. `translated` turns such a psycopg
error into the runner's own (`StoreUnavailable`, `StoreFull`, `DataLoss`) by
its SQLSTATE class; any other psycopg error is a bug of the runner's and goes
up as it is. Messages name the server without its password (`describe`).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import PoolTimeout

from ..errors import CommitOutcomeUnknown, DataLoss, SteplineError, StoreFull, StoreUnavailable

# SQLSTATE classes and codes (PostgreSQL's Appendix A).
_FULL = {"53100"}  # disk_full
_UNAVAILABLE_CLASSES = {
    "08",  # connection exception
    "53",  # insufficient resources (out of memory, too many connections)
    "57",  # operator intervention (shutdown, cannot connect now)
    "40",  # transaction rollback (serialization failure, deadlock): try again
    "25",  # invalid transaction state (read-only on a standby)
    "58",  # system error (I/O)
}
_UNAVAILABLE = {"42501"}  # insufficient_privilege: the role was changed under the runner
_DAMAGED = {"XX001", "XX002"}  # data_corrupted, index_corrupted
# The server ended the session (shutdown, crash, pg_terminate_backend).
_ENDED = {"57P01", "57P02", "57P03"}


def describe(dsn: str) -> str:
    """The database a DSN names, as postgresql://user@host:port/dbname,
    without its password (and without anything else it carries)."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(a DSN that does not parse)"
    user = f"{params['user']}@" if params.get("user") else ""
    port = f":{params['port']}" if params.get("port") else ""
    return f"postgresql://{user}{params.get('host', '')}{port}/{params.get('dbname', '')}"


def store_error(exc: Exception) -> SteplineError | None:
    """The runner's error for a failed PostgreSQL call; None for a bug."""
    if isinstance(exc, PoolTimeout):
        return StoreUnavailable(
            f"the runner's database cannot be used right now ({reason(exc)}): no connection "
            "was free or could be made in time; nothing was changed. Try again shortly"
        )
    if not isinstance(exc, psycopg.Error):
        return None
    state = exc.sqlstate or ""
    if state in _FULL:
        return StoreFull(
            f"the runner's database is full ({reason(exc)}): nothing was changed; free disk "
            "space on the database server (or delete old checkpoints and runs), then try again"
        )
    if state in _DAMAGED:
        return DataLoss(f"the runner's database is damaged ({reason(exc)})")
    lost = isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) and not state
    if lost or state[:2] in _UNAVAILABLE_CLASSES or state in _UNAVAILABLE:
        return StoreUnavailable(
            f"the runner's database cannot be used right now ({reason(exc)}): nothing was "
            "changed; the server may be down, restarting or overloaded. Try again shortly"
        )
    return None


def connection_lost(exc: Exception) -> bool:
    """The connection went away: what was sent last got no answer."""
    if not isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return False
    state = exc.sqlstate or ""
    return not state or state[:2] == "08" or state in _ENDED


def outcome_unknown(exc: Exception) -> CommitOutcomeUnknown:
    """The error for a connection lost once COMMIT may have been sent: the
    server may have committed, and its answer never came."""
    return CommitOutcomeUnknown(
        f"the connection to the runner's database was lost during a commit ({reason(exc)}): "
        "the outcome is unknown, the change may or may not have been stored. Read the run "
        "with GetRun (or what you changed with its Get call) before trying again"
    )


@asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """Raise the runner's error for a failed PostgreSQL call in the block."""
    try:
        yield
    except (psycopg.Error, PoolTimeout) as exc:
        error = store_error(exc)
        if error is None:
            raise
        raise error from exc


def reason(exc: Exception, dsn: str = "") -> str:
    """The first line of the error, bounded: server messages can be long;
    with `dsn`, neither it nor its password (see `_secrets`) is in it."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    for secret in _secrets(dsn):
        text = text.replace(secret, "...")
    return text if len(text) <= 300 else text[:300] + "..."


# A password in a URL's query or a keyword DSN: quoted, or up to a space or '&'.
_PASSWORD = re.compile(r"password\s*=\s*('(?:[^'\\]|\\.)*'|[^&\s]+)")


def _secrets(dsn: str) -> list[str]:
    """What a libpq message about `dsn` must not quote, longest first: the
    DSN, and its password as written and decoded (libpq quotes the part of
    a URL it cannot decode, which may be the password)."""
    if not dsn:
        return []
    found = {dsn, *(m.group(1) for m in _PASSWORD.finditer(dsn))}
    try:
        password = urlsplit(dsn).password
    except ValueError:
        password = None
    if password:
        found |= {password, unquote(password)}
    found |= {unquote(s) for s in list(found)} | {s.strip("'") for s in list(found)}
    return sorted((s for s in found if s), key=len, reverse=True)
