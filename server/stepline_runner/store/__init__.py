"""Where runs, checkpoints and events are kept. `Store` is the interface;
`SqliteStore` the embedded default, `postgres.PostgresStore` the one for a
PostgreSQL server; `open_store` opens either by location."""

from .base import NewCheckpoint, RunFilter, RunUpdate, StateRef, Store, StoredWorkflow
from .deletion import RunDeletion
from .news import RECONNECTED, Committed, News, ScheduleChanged
from .opening import open_store
from .sqlite import SqliteStore

__all__ = [
    "RECONNECTED",
    "Committed",
    "NewCheckpoint",
    "News",
    "RunDeletion",
    "RunFilter",
    "RunUpdate",
    "ScheduleChanged",
    "SqliteStore",
    "StateRef",
    "Store",
    "StoredWorkflow",
    "open_store",
]
