"""Assemble the runner: store, engine, gRPC server with health and reflection."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]
from grpc_reflection.v1alpha import reflection

from stepline.binding import bind
from stepline.limits import GRPC_SERVER_OPTIONS
from stepline.v1 import runner_pb2

from ..engine.allowlist import AllowList
from ..engine.limits import Limits
from ..engine.recovery import RetryPolicy
from ..engine.retention import Retention
from ..engine.runner import Runner
from ..engine.shared import shared
from ..observability import Instruments
from ..store import FollowedStore, Store, follow_store, open_store
from .auth import may_read_metrics, may_start_runs
from .encoded import add_runner_service
from .executor_client import GrpcExecutors
from .executor_tls import ExecutorChannels, ExecutorTls
from .runner_service import RunnerServicer
from .security import Security


@dataclass
class RunnerServer:
    """A running runner service; `stop()` shuts it down gracefully."""

    server: grpc.aio.Server
    runner: Runner
    store: Store
    executors: GrpcExecutors
    health: health_aio.HealthServicer
    port: int
    retention: Retention | None = None
    instruments: Instruments | None = None
    metrics_port: int | None = None

    async def stop(self, grace: float = 2.0) -> None:
        """Each step runs even when one before it failed (or was cancelled),
        and the failures are raised after: a runner whose close failed must
        still close its store, whose threads would keep the process (and the
        database's lock) alive."""
        steps: list[Callable[[], Awaitable[object]]] = [self.health.enter_graceful_shutdown]
        if self.retention is not None:
            steps.append(self.retention.stop)
        steps += [self.runner.close, lambda: self.server.stop(grace)]
        steps += [self.executors.close, self.store.close, self._close_instruments]
        failures: list[BaseException] = []
        for step in steps:
            try:
                await step()
            except BaseException as exc:
                failures.append(exc)
        if len(failures) == 1:
            raise failures[0]
        if failures:
            raise BaseExceptionGroup("the runner's shutdown failed", failures)

    async def _close_instruments(self) -> None:
        if self.instruments is not None:
            self.instruments.close()


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
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
    log_events: bool = False,
    allowed: AllowList | None = None,
    executor_tls: Sequence[ExecutorTls] = (),
    lease_seconds: float = 0.0,
    max_runs: int | None = None,
    follow: bool = False,
    before_runs: Callable[[], None] = lambda: None,
) -> RunnerServer:
    """Open the database and serve RunnerService on host:port (0 picks a port).

    `db` is a SQLite file, or a PostgreSQL database by its postgresql:// URL.
    With `lease_seconds` (PostgreSQL only) it shares the database with other
    runners: each drives the runs it holds a lease of (engine/leases.py), at
    most `max_runs` at once (0: none, it serves the API only).

    With `auto_resume`, runs that were running when the runner stopped go on
    from their latest checkpoint. `durability` "normal" (WAL, synchronous
    NORMAL) survives process crashes; "full" also survives power loss, for a
    commit that waits for the disk. `security` adds TLS and a token. With
    `delete_finished_after` (seconds), runs that ended longer ago are deleted,
    once before this returns and then periodically.
    `limits` caps what callers send; `allowed` says which executor endpoints
    it may dial (default: loopback only), `executor_tls` which it dials over
    TLS and with what credentials (the first profile covering an endpoint;
    plaintext is for loopback endpoints only). Raises OSError when it cannot listen,
    with the database closed (and its lock released). With `metrics_port`,
    Prometheus metrics are served on `metrics_host`:`metrics_port` (0 picks a
    port), over TLS with the runner's certificate when it has one (and
    requiring client certificates when it does), to principals with a role
    on "*" (`api.auth.may_read_metrics`); with a tracer provider
    installed, runs are traced; `log_events` logs notable events even
    without either. `before_runs()` is called once
    start-up is done, before the server takes calls and before any run is
    recovered, claimed or fired (the command freezes start-up's objects there,
    collector.py, so that nothing of a run is frozen). With `follow`, `db` is
    a SQLite file another runner owns: this one serves its reads and the
    watchers of its runs (not WatchRuns), and drives, resumes, fires and
    deletes nothing (engine/follower.py).
    """
    security = security or Security()
    instruments = Instruments(db, metrics_port is not None, log_events)
    store = await (follow_store(db) if follow else open_store(db, durability, lease_seconds))
    try:
        server = await _serve(
            store,
            host,
            port,
            auto_resume,
            retry,
            security,
            limits,
            delete_finished_after,
            instruments,
            allowed,
            executor_tls,
            max_runs,
            before_runs,
        )
        if metrics_port is not None:
            server.metrics_port = _serve_metrics(instruments, metrics_host, metrics_port, security)
        return server
    except BaseException:
        await store.close()
        instruments.close()
        raise


def _serve_metrics(instruments: Instruments, host: str, port: int, security: Security) -> int:
    allow = may_read_metrics(security.auth_config())
    try:
        return instruments.serve_metrics(host, port, security.metrics_tls(), allow)
    except OSError as exc:
        raise OSError(f"cannot serve metrics on {host}:{port}: {exc}") from exc


async def _serve(
    store: Store,
    host: str,
    port: int,
    auto_resume: bool,
    retry: RetryPolicy | None,
    security: Security,
    limits: Limits | None,
    delete_finished_after: float | None,
    instruments: Instruments,
    allowed: AllowList | None,
    executor_tls: Sequence[ExecutorTls],
    max_runs: int | None,
    before_runs: Callable[[], None],
) -> RunnerServer:
    dial = ExecutorChannels(executor_tls)
    executors = GrpcExecutors(instruments.executor_interceptors(), dial, instruments.calls)
    runner = Runner(
        store,
        executors,
        retry=retry,
        limits=limits,
        observer=instruments.observer,
        allowed=replace(allowed or AllowList.of(), secured=dial.secured),
    )
    # A follower refuses what it does not serve, naming the file (auth.FOLLOWER_SERVES).
    followed = Path(store.path).name if isinstance(store, FollowedStore) else ""
    server = grpc.aio.server(
        options=GRPC_SERVER_OPTIONS,
        interceptors=[*security.interceptors(followed), *instruments.server_interceptors()],
    )
    runner.schedules.may_start = may_start_runs(security.auth_config())
    add_runner_service(RunnerServicer(runner), server)
    health_servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    service_name = runner_pb2.DESCRIPTOR.services_by_name["RunnerService"].full_name
    reflection.enable_server_reflection(
        (service_name, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    credentials = security.credentials()
    bound = bind(server, host, port, credentials)
    await instruments.seed(runner)
    before_runs()
    await server.start()
    for name in ("", service_name):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    retention = None
    if isinstance(store, FollowedStore):  # the owner drives, fires and sweeps
        runner.follow(store, _not_serving(health_servicer, service_name))
    else:
        retention = await _drive(runner, store, auto_resume, max_runs, delete_finished_after)
    return RunnerServer(
        server, runner, store, executors, health_servicer, bound, retention, instruments
    )


async def _drive(
    runner: Runner,
    store: Store,
    auto_resume: bool,
    max_runs: int | None,
    delete_finished_after: float | None,
) -> Retention | None:
    """What a runner that owns its store (or shares it) starts: the runs
    (resumed, or by leases), the schedules, the sweep of finished runs."""
    if (leased := shared(store)) is not None:
        runner.share(leased, max_runs)  # runs come back by lease takeovers, on any runner
    elif auto_resume:
        await runner.resume_unfinished()
    await runner.schedules.start()
    if delete_finished_after is None:
        return None
    retention = Retention(runner, delete_finished_after)
    await retention.start()
    return retention


def _not_serving(
    health: health_aio.HealthServicer, service_name: str
) -> Callable[[], Awaitable[None]]:
    """What a follower whose file changed under it does: what it would serve
    is stale from now on."""

    async def not_serving() -> None:
        for name in ("", service_name):
            await health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)

    return not_serving
