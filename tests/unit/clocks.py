"""A still clock for tests of the watchers' pace (`engine.pacing.Pacer`
reads the running loop's clock)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def clock_still() -> Iterator[None]:
    """The running loop's clock stands still inside the block: two publishes
    in a row fall within one pace however loaded the machine (a test that
    reads the time twice may be descheduled between the two for longer than
    a pace). Nothing inside may wait for the loop: its timers never come due."""
    loop = asyncio.get_running_loop()
    now = loop.time()
    loop.time = lambda: now  # type: ignore[method-assign]
    try:
        yield
    finally:
        del loop.time
