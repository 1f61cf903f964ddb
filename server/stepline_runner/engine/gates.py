"""Per-node concurrency: a node's `max_concurrent_executes` is a `Gate` per
(workflow, node), shared by every run of the workflow on this runner. Execute
calls wait in arrival order for a slot, in memory: a restart forgets nothing
that matters, since the calls in flight died with the runner."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator

from stepline.v1 import workflow_pb2


class Gate:
    """At most `limit` holders at once; the others wait in arrival order.
    The limit may change (a new version of the workflow); waiters then go in
    as the new limit allows."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0
        self.most = 0  # the most holders seen at once (tests and metrics read it)
        self._waiters: deque[asyncio.Future[None]] = deque()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self.in_flight >= self.limit or self._waiters:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._release()  # granted just as it was cancelled: pass it on
                elif waiter in self._waiters:  # `_wake` may have dropped it already
                    self._waiters.remove(waiter)
                raise
        else:
            self._take()
        try:
            yield
        finally:
            self._release()

    def resize(self, limit: int) -> None:
        self.limit = limit
        self._wake()

    def _take(self) -> None:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)

    def _release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._take()
                waiter.set_result(None)


class NodeGates:
    """The gates of nodes with a `max_concurrent_executes`, shared by every
    run of their workflow on this runner."""

    def __init__(self) -> None:
        self._gates: dict[tuple[str, str], Gate] = {}

    def for_node(self, workflow_id: str, node: workflow_pb2.ExecutorNode) -> Gate | None:
        """The node's gate, None when it has no limit; the limit of the
        version asking last is the one in force."""
        limit = node.max_concurrent_executes
        key = (workflow_id, node.id)
        if not limit:
            return None
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = Gate(limit)
        elif gate.limit != limit:
            gate.resize(limit)
        return gate
