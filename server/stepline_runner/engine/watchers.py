"""`StreamCounts`: how many streams of events (WatchRun, WatchRuns) each
principal has open at once, held to `Limits.watchers`. Without it one
reader's credentials could open streams until the runner's memory ran out:
each holds a task, its gRPC call and, while it watches, a share of a run's
tail or a subscriber's buffer."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .errors import Reason, ResourceExhausted


class StreamCounts:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._open: dict[str, int] = {}  # principal -> its streams open

    @contextlib.contextmanager
    def held(self, principal: str) -> Iterator[None]:
        """One stream of `principal` open while the block runs;
        RESOURCE_EXHAUSTED (before the block) when it has as many as allowed."""
        count = self._open.get(principal, 0)
        if count >= self._limit:
            who = (
                f"principal {principal[:64]!r} has"
                if principal
                else "callers without credentials have"
            )
            raise ResourceExhausted(
                f"{who} {count} event streams open already, as many as this runner "
                f"allows one principal (--limit watchers={self._limit}): end one first",
                reason=Reason.TOO_MANY_WATCHERS,
                context={"limit": str(self._limit)},
            )
        self._open[principal] = count + 1
        try:
            yield
        finally:
            left = self._open.pop(principal) - 1
            if left:
                self._open[principal] = left
