"""Assemble the runner: store, engine, gRPC server with health and reflection."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]
from grpc_reflection.v1alpha import reflection

from stepline.binding import bind
from stepline.limits import GRPC_SERVER_OPTIONS
from stepline.v1 import runner_pb2, runner_pb2_grpc

from ..engine.limits import Limits
from ..engine.recovery import RetryPolicy
from ..engine.retention import Retention
from ..engine.runner import Runner
from ..store import SqliteStore
from .executor_client import GrpcExecutors
from .runner_service import RunnerServicer
from .security import Security


@dataclass
class RunnerServer:
    """A running runner service; `stop()` shuts it down gracefully."""

    server: grpc.aio.Server
    runner: Runner
    store: SqliteStore
    executors: GrpcExecutors
    health: health_aio.HealthServicer
    port: int
    retention: Retention | None = None

    async def stop(self, grace: float = 2.0) -> None:
        await self.health.enter_graceful_shutdown()
        if self.retention is not None:
            await self.retention.stop()
        await self.runner.close()
        await self.server.stop(grace)
        await self.executors.close()
        await self.store.close()


async def start_runner(
    db: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    auto_resume: bool = True,
    retry: RetryPolicy | None = None,
    durability: str = "normal",
    security: Security | None = None,
    delete_finished_after: float | None = None,
    limits: Limits | None = None,
) -> RunnerServer:
    """Open the database and serve RunnerService on host:port (0 picks a port).

    With `auto_resume`, runs that were running when the runner stopped go on
    from their latest checkpoint. `durability` "normal" (WAL, synchronous
    NORMAL) survives process crashes; "full" also survives power loss, for a
    commit that waits for the disk. `security` adds TLS and a token. With
    `delete_finished_after` (seconds), runs that ended longer ago are deleted,
    once before this returns and then periodically.
    `limits` caps what callers send. Raises OSError when it cannot listen,
    with the database closed (and its lock released).
    """
    security = security or Security()
    store = await SqliteStore.open(db, synchronous=durability.upper())
    try:
        return await _serve(
            store, host, port, auto_resume, retry, security, limits, delete_finished_after
        )
    except BaseException:
        await store.close()
        raise


async def _serve(
    store: SqliteStore,
    host: str,
    port: int,
    auto_resume: bool,
    retry: RetryPolicy | None,
    security: Security,
    limits: Limits | None,
    delete_finished_after: float | None,
) -> RunnerServer:
    executors = GrpcExecutors()
    runner = Runner(store, executors, retry=retry, limits=limits)
    server = grpc.aio.server(options=GRPC_SERVER_OPTIONS, interceptors=security.interceptors())
    runner_pb2_grpc.add_RunnerServiceServicer_to_server(RunnerServicer(runner), server)
    health_servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    service_name = runner_pb2.DESCRIPTOR.services_by_name["RunnerService"].full_name
    reflection.enable_server_reflection(
        (service_name, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    credentials = security.credentials()
    bound = bind(server, host, port, credentials)
    await server.start()
    for name in ("", service_name):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    if auto_resume:
        await runner.resume_unfinished()
    retention = None
    if delete_finished_after is not None:
        retention = Retention(runner, delete_finished_after)
        await retention.start()
    return RunnerServer(server, runner, store, executors, health_servicer, bound, retention)
