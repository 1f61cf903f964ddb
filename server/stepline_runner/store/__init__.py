"""Where runs, checkpoints and events are kept. `Store` is the interface;
`SqliteStore` the embedded default, `postgres.PostgresStore` the one for a
PostgreSQL server; `open_store` opens either by location, `follow_store` a
SQLite file another runner owns, read only (`FollowedStore`)."""

from .base import NewCheckpoint, RunFilter, RunUpdate, StateRef, Store, StoredWorkflow
from .deletion import RunDeletion
from .following import FileChanged, FollowedStore, Position
from .news import RECONNECTED, Committed, News, ScheduleChanged
from .opening import follow_store, open_store
from .sqlite import SqliteStore

__all__ = [
    "RECONNECTED",
    "Committed",
    "FileChanged",
    "FollowedStore",
    "NewCheckpoint",
    "News",
    "Position",
    "RunDeletion",
    "RunFilter",
    "RunUpdate",
    "ScheduleChanged",
    "SqliteStore",
    "StateRef",
    "Store",
    "StoredWorkflow",
    "follow_store",
    "open_store",
]
