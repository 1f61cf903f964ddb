"""Replies read from the store, shared by the watchers that ask for the same
one at once: a hundred watchers catching up on a finished run read, parse and
frame each of its events once, not a hundred times.

Only reads in flight are shared (nothing is kept once one is done), so a
watcher never gets a reply older than a read it could have made itself: one
that joins a read begun before a commit it was woken for finds the commit's
events missing, waits no more (the hub or the store shows them), and reads
again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from stepline.v1 import events_pb2

from .replies import Reply

Key = tuple[str, int, frozenset[events_pb2.EventKind]]  # run, after sequence, kinds


class SharedReads:
    def __init__(self) -> None:
        self._reading: dict[Key, asyncio.Future[Reply | None]] = {}

    async def reply(self, key: Key, read: Callable[[], Awaitable[Reply | None]]) -> Reply | None:
        """What `read` returns, or what the read for `key` in flight returns.
        The read runs in a task of its own: a watcher that leaves (its stream
        cancelled) does not cancel it for the others."""
        reading = self._reading.get(key)
        if reading is None:
            reading = self._reading[key] = asyncio.ensure_future(read())
            reading.add_done_callback(lambda done: self._done(key, done))
        return await asyncio.shield(reading)

    def _done(self, key: Key, done: asyncio.Future[Reply | None]) -> None:
        if self._reading.get(key) is done:
            del self._reading[key]
        if not done.cancelled():
            done.exception()  # retrieved: its waiters, if any are left, raise it

    def __len__(self) -> int:
        return len(self._reading)
