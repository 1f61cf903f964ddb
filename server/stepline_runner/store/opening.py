"""Which store a location names: a postgresql:// (or postgres://) URL opens
the PostgreSQL store, anything else is a SQLite file."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from .base import Store
from .following import FollowedStore
from .sqlite import SqliteStore

SCHEMES = ("postgresql://", "postgres://")


class StoreOpenError(RuntimeError):
    """The store cannot be reached or used at start-up; the message says why."""


class PostgresMissing(StoreOpenError):
    """The PostgreSQL store's libraries (the `postgresql` extra) are not installed."""


def is_postgres(location: str | Path) -> bool:
    return isinstance(location, str) and location.startswith(SCHEMES)


def shown(location: str | Path) -> str:
    """The location as messages and logs may show it: a URL without its
    password and parameters (scheme://user@host:port/dbname)."""
    if not is_postgres(location):
        return str(location)
    try:
        url = urlsplit(str(location))
        user = f"{url.username}@" if url.username else ""
        port = f":{url.port}" if url.port else ""
        host = url.hostname or ""
    except ValueError:
        return f"{url.scheme}://(a URL that does not parse)"
    return f"{url.scheme}://{user}{host}{port}{url.path}"


async def follow_store(location: str | Path) -> FollowedStore:
    """The SQLite file at `location` that another runner owns, read only
    (following.py)."""
    if is_postgres(location):
        raise StoreOpenError(
            "--follow reads a SQLite file another runner owns; runners share a PostgreSQL "
            "database by --lease-seconds (with --max-runs 0 for one that drives no runs)"
        )
    try:
        return await FollowedStore.follow(location)
    except FileNotFoundError as exc:
        raise StoreOpenError(str(exc)) from None


async def open_store(
    location: str | Path, durability: str = "normal", lease_seconds: float = 0.0
) -> Store:
    """Open (creating or migrating) the store at `location`. `durability`
    ("normal" or "full") is SQLite's; a PostgreSQL server keeps its own.
    `lease_seconds`: share the (PostgreSQL) database with other runners."""
    if not is_postgres(location):
        if lease_seconds:
            raise StoreOpenError(
                "--lease-seconds shares a PostgreSQL database between runners; a SQLite "
                "file is one runner's (give --store postgresql://...)"
            )
        return await SqliteStore.open(location, synchronous=durability.upper())
    try:
        from .postgres import PostgresStore
    except ImportError as exc:
        raise PostgresMissing(
            f"a postgresql:// store needs psycopg and psycopg-pool ({exc.name} is missing): "
            "pip install 'stepline[postgresql]'"
        ) from None
    if lease_seconds:
        return await PostgresStore.open(str(location), exclusive=False, lease_seconds=lease_seconds)
    return await PostgresStore.open(str(location))
