"""Waiting on what another process writes (a table, a log file), where there
is nothing to await: poll it, with a deadline that fails the test saying what
never came, long before pytest's own timeout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
DEADLINE = 60.0  # seconds: generous on a loaded machine, well under the test timeout
EVERY = 0.05  # seconds between looks


async def until(look: Callable[[], T], what: str, deadline: float = DEADLINE) -> T:
    """Call `look()` until it returns something true, and return that;
    AssertionError naming `what` after `deadline` seconds. `look` is quick
    (a query, a file read): it runs on the event loop."""
    give_up = time.monotonic() + deadline
    while True:
        if found := look():
            return found
        if time.monotonic() > give_up:
            raise AssertionError(f"{what}: not within {deadline:g} s")
        await asyncio.sleep(EVERY)  # polling another process's writes
