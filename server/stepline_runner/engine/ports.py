"""How the engine reaches executors: a small interface the gRPC layer implements.

Unit tests implement it with in-process executor hosts.
"""

from __future__ import annotations

from typing import Protocol

from stepline.v1 import executor_pb2


class ExecutorCallError(Exception):
    """A call to an executor service failed at the transport or protocol level.

    `code` is the gRPC status name (for example "UNAVAILABLE"); the engine only
    compares it with names, so it does not need gRPC to understand it.
    `reason` is the `stepline.reasons.Reason` in the status details, if any
    (STALE_EPOCH: the service has seen a later owner of the run).
    """

    def __init__(self, endpoint: str, code: str, message: str, reason: str = "") -> None:
        super().__init__(f"{endpoint}: {code}: {message}")
        self.endpoint = endpoint
        self.code = code
        self.message = message
        self.reason = reason

    @property
    def unreachable(self) -> bool:
        return self.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED")


class ExecutorPort(Protocol):
    """The five ExecutorService calls, addressed by endpoint."""

    async def describe(
        self, endpoint: str, timeout: float | None = None
    ) -> executor_pb2.DescribeResponse: ...

    async def execute(
        self,
        endpoint: str,
        request: executor_pb2.ExecuteRequest,
        timeout: float | None = None,
        session: bool = False,
    ) -> executor_pb2.ExecuteResponse:
        """`session`: the service advertises the Session stream; the call may
        go on it (a transport without one ignores it)."""
        ...

    async def save(
        self, endpoint: str, request: executor_pb2.SaveCheckpointRequest
    ) -> executor_pb2.SaveCheckpointResponse: ...

    async def restore(
        self, endpoint: str, request: executor_pb2.RestoreCheckpointRequest
    ) -> executor_pb2.RestoreCheckpointResponse: ...

    async def end_run(
        self, endpoint: str, request: executor_pb2.EndRunRequest, session: bool = False
    ) -> executor_pb2.EndRunResponse:
        """`session`: the service takes EndRun on its Session stream; the call
        may go on it (a transport without one ignores it)."""
        ...
