"""Where runs, checkpoints and events are kept. `Store` is the interface;
`SqliteStore` the embedded default."""

from .base import NewCheckpoint, RunFilter, RunUpdate, StateRef, Store, StoredWorkflow
from .deletion import RunDeletion
from .sqlite import SqliteStore

__all__ = [
    "NewCheckpoint",
    "RunDeletion",
    "RunFilter",
    "RunUpdate",
    "SqliteStore",
    "StateRef",
    "Store",
    "StoredWorkflow",
]
