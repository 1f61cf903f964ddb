"""The runner's observability: Prometheus metrics on a port of their own
(over TLS when the runner has a certificate, stepline.telemetry._metrics),
OpenTelemetry spans, and event log lines, assembled around the engine.

The engine only knows `engine.observe.Observer`; `Telemetry` implements it.
`Instruments` puts the pieces together for `api.server.start_runner`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry import trace

from stepline.telemetry import (
    MetricsAllow,
    MetricsTls,
    ServerTracing,
    serve_metrics,
    tracing_installed,
)

from ..engine.observe import NO_OBSERVER, Observer
from ..engine.runner import Runner
from .grpc_calls import ExecutorCalls, StreamCount
from .logs import JsonFormatter, configure_logging
from .metrics import OpenRequests, RunnerMetrics, StateCollector
from .telemetry import Telemetry

__all__ = [
    "Instruments",
    "JsonFormatter",
    "MetricsTls",
    "RunnerMetrics",
    "Telemetry",
    "configure_logging",
]


class Instruments:
    """What one runner records. `metrics`: Prometheus metrics of `db`;
    tracing: when a tracer provider is installed; `log_events`: a log line per
    notable event even without either. With none, nothing is installed."""

    def __init__(self, db: str | Path, metrics: bool, log_events: bool = False) -> None:
        self.metrics = RunnerMetrics() if metrics else None
        self.tracer = trace.get_tracer("stepline.runner") if tracing_installed() else None
        self.telemetry: Telemetry | None = None
        # Times and traces executor calls, unary (an interceptor) or on a Session.
        self.calls = ExecutorCalls(self.metrics, self.tracer) if metrics or self.tracer else None
        self._http: Any = None
        if self.metrics or self.tracer or log_events:
            self.telemetry = Telemetry(self.metrics, self.tracer, OpenRequests())
        if self.metrics is not None and self.telemetry is not None:
            self.metrics.registry.register(StateCollector(db, self.telemetry.requests))

    @property
    def observer(self) -> Observer:
        return self.telemetry or NO_OBSERVER

    def executor_interceptors(self) -> Sequence[Any]:
        return () if self.calls is None else (self.calls,)

    def server_interceptors(self) -> list[Any]:
        found: list[Any] = []
        if self.tracer is not None:
            found.append(ServerTracing())
        if self.metrics is not None:
            found.append(StreamCount(self.metrics))
        return found

    def serve_metrics(
        self, host: str, port: int, tls: MetricsTls | None = None, allow: MetricsAllow | None = None
    ) -> int:
        """Serve /metrics on host:port (0 picks one), over TLS with `tls`, to
        whom `allow` lets read them (None: anyone); returns the port."""
        assert self.metrics is not None, "metrics are off"
        if allow is None:
            self._http, _ = serve_metrics(self.metrics.registry, host, port, tls)
        else:
            self._http, _ = serve_metrics(self.metrics.registry, host, port, tls, allow)
        return int(self._http.server_port)

    async def seed(self, runner: Runner) -> None:
        """Learn the requests left open before a restart: the events that
        opened them were published by another process."""
        if self.telemetry is None:
            return
        for run, requests in await runner.waiting_runs():
            since = run.updated_at.ToNanoseconds() / 1e9
            for request in requests:
                self.telemetry.requests.opened(run.run_id, request.request_id, since)

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
