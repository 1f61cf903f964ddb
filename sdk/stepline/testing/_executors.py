"""`InProcessExecutors`: executor services without processes or a network.

The SDK's `ExecutorHost` (what `run_executors` serves over gRPC) behind the
runner engine's `ExecutorPort`, so a `Runner` can drive your executors in one
process, as httpx's `MockTransport` lets a client talk to a function.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from stepline.host import ExecutorHost
from stepline.serve import Executors, host_error_status
from stepline.v1 import executor_pb2
from stepline_runner.engine.ports import ExecutorCallError


class InProcessExecutors:
    """Executor hosts by endpoint, called as the runner calls executor services.

    A host's errors become the statuses the SDK's gRPC servicer would send
    (`ExecutorCallError`); an endpoint with no host is unreachable. Attributes
    a test may read and change at any time:

    - `hosts`: endpoint -> `ExecutorHost`; replace one to simulate a restarted
      service (it loses its executor objects, and has a new incarnation id);
    - `calls`: every call made so far, as (endpoint, method name);
    - `down`: endpoint -> how many more calls find it unreachable (an outage).
    """

    def __init__(self, hosts: Mapping[str, ExecutorHost] | None = None) -> None:
        self.hosts = dict(hosts or {})
        self.calls: list[tuple[str, str]] = []
        self.down: dict[str, int] = {}

    def add(self, endpoint: str, types: Executors) -> ExecutorHost:
        """Serve executor types at `endpoint` (a new host replaces the old)."""
        host = self.hosts[endpoint] = ExecutorHost(types)
        return host

    def _host(self, endpoint: str, method: str) -> ExecutorHost:
        self.calls.append((endpoint, method))
        host = self.hosts.get(endpoint)
        if self.down.get(endpoint, 0) > 0:
            self.down[endpoint] -= 1
            host = None
        if host is None:
            raise ExecutorCallError(endpoint, "UNAVAILABLE", "connection refused")
        return host

    async def _call(self, endpoint: str, method: str, call: Callable[[ExecutorHost], Any]) -> Any:
        """Call the host as the SDK's gRPC servicer would, errors becoming statuses."""
        host = self._host(endpoint, method)
        try:
            result = call(host)
            return await result if inspect.isawaitable(result) else result
        except Exception as exc:
            # The statuses `stepline.serve` sends for the host's exceptions.
            code = host_error_status(exc)
            if code is None:
                raise
            reason = str(getattr(exc, "reason", ""))
            raise ExecutorCallError(endpoint, code.name, str(exc), reason) from exc

    async def describe(
        self, endpoint: str, timeout: float | None = None
    ) -> executor_pb2.DescribeResponse:
        return await self._call(endpoint, "Describe", lambda h: h.describe())  # type: ignore[no-any-return]

    async def execute(
        self,
        endpoint: str,
        request: executor_pb2.ExecuteRequest,
        timeout: float | None = None,
        session: bool = False,
    ) -> executor_pb2.ExecuteResponse:
        return await self._call(endpoint, "Execute", lambda h: h.execute(request))  # type: ignore[no-any-return]

    async def save(
        self, endpoint: str, request: executor_pb2.SaveCheckpointRequest
    ) -> executor_pb2.SaveCheckpointResponse:
        return await self._call(endpoint, "SaveCheckpoint", lambda h: h.save(request))  # type: ignore[no-any-return]

    async def restore(
        self, endpoint: str, request: executor_pb2.RestoreCheckpointRequest
    ) -> executor_pb2.RestoreCheckpointResponse:
        return await self._call(endpoint, "RestoreCheckpoint", lambda h: h.restore(request))  # type: ignore[no-any-return]

    async def end_run(
        self, endpoint: str, request: executor_pb2.EndRunRequest, session: bool = False
    ) -> executor_pb2.EndRunResponse:
        return await self._call(endpoint, "EndRun", lambda h: h.end_run(request))  # type: ignore[no-any-return]
