"""Where runs, checkpoints and events are kept. `Store` is the interface;
`SqliteStore` the embedded default."""

from .base import NewCheckpoint, RunUpdate, StateRef, Store
from .sqlite import SqliteStore

__all__ = ["NewCheckpoint", "RunUpdate", "SqliteStore", "StateRef", "Store"]
