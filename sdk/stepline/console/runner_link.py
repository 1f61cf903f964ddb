"""The console's one client of the runner, and the one place its calls go
through: a call that finds the runner unreachable waits briefly for it to
come back (gRPC reconnects with backoff) and is tried once more."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from stepline.client import RunnerClient
from stepline.errors import UnavailableError

T = TypeVar("T")

# Longer than the client's longest reconnect backoff (1 s, limits.py), so that the first
# page asked for after the runner is back shows it.
RECONNECT_WAIT = 2.5


@dataclass
class RunnerLink:
    client: RunnerClient

    @property
    def address(self) -> str:
        return self.client.address

    async def call(self, operation: Callable[[RunnerClient], Awaitable[T]]) -> T:
        try:
            return await operation(self.client)
        except UnavailableError:
            with contextlib.suppress(UnavailableError):
                await self.client.wait_for_ready(RECONNECT_WAIT)
            return await operation(self.client)
