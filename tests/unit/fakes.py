"""In-process stand-ins for executor services: the SDK's `ExecutorHost`
behind the engine's `ExecutorPort`, with no network in between."""

from __future__ import annotations

from collections.abc import Mapping

from stepline.host import ExecutorHost
from stepline.v1 import executor_pb2
from stepline_runner.engine.ports import ExecutorCallError


class InProcessExecutors:
    def __init__(self, hosts: Mapping[str, ExecutorHost]) -> None:
        self.hosts = dict(hosts)
        self.calls: list[tuple[str, str]] = []  # (endpoint, method)

    def _host(self, endpoint: str, method: str) -> ExecutorHost:
        self.calls.append((endpoint, method))
        host = self.hosts.get(endpoint)
        if host is None:
            raise ExecutorCallError(endpoint, "UNAVAILABLE", "connection refused")
        return host

    async def describe(
        self, endpoint: str, timeout: float | None = None
    ) -> executor_pb2.DescribeResponse:
        return self._host(endpoint, "Describe").describe()

    async def execute(
        self, endpoint: str, request: executor_pb2.ExecuteRequest, timeout: float | None = None
    ) -> executor_pb2.ExecuteResponse:
        return await self._host(endpoint, "Execute").execute(request)

    async def save(
        self, endpoint: str, request: executor_pb2.SaveCheckpointRequest
    ) -> executor_pb2.SaveCheckpointResponse:
        return self._host(endpoint, "SaveCheckpoint").save(request)

    async def restore(
        self, endpoint: str, request: executor_pb2.RestoreCheckpointRequest
    ) -> executor_pb2.RestoreCheckpointResponse:
        return self._host(endpoint, "RestoreCheckpoint").restore(request)

    async def end_run(
        self, endpoint: str, request: executor_pb2.EndRunRequest
    ) -> executor_pb2.EndRunResponse:
        return self._host(endpoint, "EndRun").end_run(request)
