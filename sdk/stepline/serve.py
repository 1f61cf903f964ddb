"""Serve executors over gRPC: `serve_executors` (async) and `run_executors`."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]
from grpc_status import rpc_status

from stepline import payloads
from stepline._service_metrics import serve_service_metrics
from stepline._session import Reply, SessionCalls
from stepline.binding import bind
from stepline.executor import Executor
from stepline.host import (
    ExecutorFactory,
    ExecutorFactoryError,
    ExecutorHost,
    NoSuchExecutorObject,
    StaleEpoch,
    StateTooLarge,
    UnknownExecutorType,
)
from stepline.limits import (
    GRPC_SERVER_OPTIONS,
    SESSION_BATCHES,
    SESSION_CALLS,
    SESSION_CANCELS,
    SESSION_END_RUNS,
)
from stepline.reasons import DOMAIN
from stepline.service_security import ServiceSecurity, exposure_warning
from stepline.telemetry import (
    HostInstruments,
    ServerTracing,
    configure_tracing,
    server_span,
    tracing_installed,
)
from stepline.v1 import executor_pb2, executor_pb2_grpc

if TYPE_CHECKING:
    Ctx = grpc.aio.ServicerContext[Any, Any]

Executors = Mapping[str, type[Executor] | ExecutorFactory]
log = logging.getLogger(__name__)
# Execute calls one Session stream runs at once.
MAX_SESSION_CALLS = 256
# The method a Session call stands for, in its span.
_EXECUTE = "/stepline.v1.ExecutorService/Execute"
_END_RUN = "/stepline.v1.ExecutorService/EndRun"


class _Servicer(executor_pb2_grpc.ExecutorServiceServicer):
    """Translates between gRPC and `ExecutorHost`; errors become statuses.
    `traced`: each Session call gets the server span a unary Execute gets
    from `ServerTracing`, continuing the trace context its request carries."""

    def __init__(self, host: ExecutorHost, traced: bool = False) -> None:
        self.host = host
        self.traced = traced

    async def Describe(
        self, request: executor_pb2.DescribeRequest, context: Ctx
    ) -> executor_pb2.DescribeResponse:
        return self.host.describe()

    async def Execute(
        self, request: executor_pb2.ExecuteRequest, context: Ctx
    ) -> executor_pb2.ExecuteResponse:
        try:
            return await self.host.execute(request)
        except Exception as exc:
            await _abort(context, exc)
            raise

    async def SaveCheckpoint(
        self, request: executor_pb2.SaveCheckpointRequest, context: Ctx
    ) -> executor_pb2.SaveCheckpointResponse:
        try:
            return await self.host.save(request)
        except Exception as exc:
            await _abort(context, exc)
            raise

    async def RestoreCheckpoint(
        self, request: executor_pb2.RestoreCheckpointRequest, context: Ctx
    ) -> executor_pb2.RestoreCheckpointResponse:
        try:
            return await self.host.restore(request)
        except Exception as exc:
            await _abort(context, exc)
            raise

    async def EndRun(
        self, request: executor_pb2.EndRunRequest, context: Ctx
    ) -> executor_pb2.EndRunResponse:
        return self.host.end_run(request)

    # Replies are written as calls finish (context.write), not yielded in order.
    async def Session(  # type: ignore[override]
        self, request_iterator: AsyncIterator[executor_pb2.SessionRequest], context: Ctx
    ) -> None:
        if not self.host.fast_path:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "this service serves unary calls")
        # This stream takes several calls in one request, and cancels, and runs
        # so many at once (executor.proto, Session).
        most = MAX_SESSION_CALLS
        await context.send_initial_metadata(
            (SESSION_BATCHES, SESSION_CANCELS, (SESSION_CALLS, str(most)))
        )
        reply: Reply = functools.partial(traced_reply if self.traced else timed_reply, self.host)
        await SessionCalls(context, reply, most).serve()


async def traced_reply(
    host: ExecutorHost, request: executor_pb2.SessionRequest
) -> executor_pb2.SessionReply:
    """`timed_reply` in the server span a unary Execute gets from
    `ServerTracing`, continuing the trace context the request carries."""
    method = _END_RUN if request.end_run else _EXECUTE
    with server_span(method, request.trace_context, **{"stepline.session": True}):
        return await timed_reply(host, request)


async def timed_reply(
    host: ExecutorHost, request: executor_pb2.SessionRequest
) -> executor_pb2.SessionReply:
    """`session_reply` under the call's `timeout`: past it the handler is
    cancelled, as gRPC cancels a unary call's past its deadline, and the
    reply is DEADLINE_EXCEEDED (the runner waits a little longer for it)."""
    if not request.HasField("timeout"):
        return await session_reply(host, request)
    try:
        async with asyncio.timeout(request.timeout.ToNanoseconds() / 1e9):
            return await session_reply(host, request)
    except TimeoutError:
        code = grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
        return executor_pb2.SessionReply(
            call_id=request.call_id, code=code, message="Deadline Exceeded"
        )


async def session_reply(
    host: ExecutorHost, request: executor_pb2.SessionRequest
) -> executor_pb2.SessionReply:
    """What the unary Execute (or EndRun) would answer, as a Session reply."""
    reply = executor_pb2.SessionReply(call_id=request.call_id)
    if request.end_run:  # never fails, as the unary EndRun, but for too many at once
        if len(request.end_run) > SESSION_END_RUNS:
            reply.code = grpc.StatusCode.INVALID_ARGUMENT.value[0]
            reply.message = f"at most {SESSION_END_RUNS} EndRun calls in one request"
            return reply
        reply.end_run.released = sum(host.end_run(r).released for r in request.end_run)
        return reply
    try:
        await host.execute(request.execute, reply.execute)  # made in the reply
    except Exception as exc:
        reply.ClearField("execute")
        code = host_error_status(exc) or grpc.StatusCode.UNKNOWN
        reply.code = code.value[0]
        reply.message = (
            str(exc) if code != grpc.StatusCode.UNKNOWN else f"{type(exc).__name__}: {exc}"
        )
        if isinstance(exc, StaleEpoch):  # as `host_error_details` says it
            _refused(exc)
            reply.reason = exc.reason
    return reply


# The status each exception of `ExecutorHost` is sent as; any other exception
# is a bug of the service (UNKNOWN). `stepline.testing.InProcessExecutors`
# raises the same statuses from the same table.
HOST_ERROR_STATUSES: Mapping[type[Exception], grpc.StatusCode] = {
    UnknownExecutorType: grpc.StatusCode.NOT_FOUND,
    NoSuchExecutorObject: grpc.StatusCode.FAILED_PRECONDITION,
    StaleEpoch: grpc.StatusCode.FAILED_PRECONDITION,
    StateTooLarge: grpc.StatusCode.RESOURCE_EXHAUSTED,
    payloads.PayloadError: grpc.StatusCode.INVALID_ARGUMENT,
}


def host_error_status(exc: BaseException) -> grpc.StatusCode | None:
    """The status `exc`, raised by an `ExecutorHost`, is sent as; None if it is
    none of the host's exceptions."""
    return next((c for e, c in HOST_ERROR_STATUSES.items() if isinstance(exc, e)), None)


def host_error_details(
    code: grpc.StatusCode, exc: BaseException
) -> tuple[tuple[str, str | bytes], ...]:
    """The trailers of the status `exc` is sent as: a `google.rpc.ErrorInfo`
    with its reason when it has one (a stale epoch), so a runner can tell
    "superseded" from "no object" (both FAILED_PRECONDITION) without parsing."""
    if not isinstance(exc, StaleEpoch):
        return ()
    status = status_pb2.Status(code=code.value[0], message=str(exc))
    info = error_details_pb2.ErrorInfo(reason=exc.reason, domain=DOMAIN, metadata=exc.metadata)
    status.details.add().Pack(info)
    return tuple(rpc_status.to_status(status).trailing_metadata)


def _refused(exc: StaleEpoch) -> None:
    # Worth a line, on either path: a runner was superseded, and this service kept it out.
    log.warning("refused a stale call: %s", exc)


async def _abort(context: Ctx, exc: Exception) -> None:
    code = host_error_status(exc)
    if isinstance(exc, StaleEpoch):
        _refused(exc)
    if code is not None:
        await context.abort(code, str(exc), host_error_details(code, exc))


@dataclass
class ExecutorServer:
    """A running executor service."""

    server: grpc.aio.Server
    host: ExecutorHost
    port: int
    metrics_port: int | None = None
    _metrics: Any = None  # the metrics HTTP server, if any

    async def stop(self, grace: float | None = 1.0) -> None:
        await self.server.stop(grace)
        if self._metrics is not None:
            self._metrics.shutdown()
            self._metrics.server_close()

    async def wait_for_termination(self) -> None:
        await self.server.wait_for_termination()


async def serve_executors(
    executors: Executors,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    metrics_port: int | None = None,
    security: ServiceSecurity | None = None,
    fast_path: bool = True,
) -> ExecutorServer:
    """Start an executor service hosting `executors` (type name -> class or factory,
    see `stepline.factories`).

    With `security` (a `ServiceSecurity`), it serves TLS and may require every
    caller to present a client certificate (mTLS) and/or a bearer token:
    callers without them are refused, with `UNAUTHENTICATED` for a missing
    or wrong token. Without it, plaintext: keep that on loopback.

    Port 0 picks a free port; the returned server says which. Raises
    `ExecutorFactoryError` for an executor type that cannot work, `OSError`
    when it cannot listen there (a port that is taken, say).

    With `metrics_port`, Prometheus metrics of the handlers (duration and
    errors by executor type) are served over HTTP on `host`:`metrics_port`
    (0 picks one); with a `security` that has a certificate, over TLS with it, and
    to a scraper with the client certificate and the token (the HTTP header
    `Authorization: Bearer <token>`) that it requires of gRPC callers.

    With a tracer provider installed (`stepline.telemetry.configure_tracing`),
    each call continues the caller's trace and each handler call gets a span.

    `fast_path` False: do not advertise or answer the optional state with
    Execute (`ExecutorHost`); the runner then calls SaveCheckpoint for every state.
    """
    registry = None
    if metrics_port is not None:
        from prometheus_client import CollectorRegistry

        registry = CollectorRegistry()
    tracing = tracing_installed()
    executor_host = ExecutorHost(executors, HostInstruments(registry, tracing), fast_path=fast_path)
    security = security or ServiceSecurity()
    # The token check first: a refused call is neither traced nor decoded.
    interceptors = [*security.interceptors(), *([ServerTracing()] if tracing else [])]
    server = grpc.aio.server(options=GRPC_SERVER_OPTIONS, interceptors=interceptors)
    servicer = _Servicer(executor_host, traced=tracing)
    executor_pb2_grpc.add_ExecutorServiceServicer_to_server(servicer, server)
    health_servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    bound = bind(server, host, port, security.server_credentials())
    metrics = None
    if registry is not None and metrics_port is not None:
        metrics = serve_service_metrics(registry, host, metrics_port, security)
        metrics_port = metrics.server_port
    started = ExecutorServer(server, executor_host, bound, metrics_port, metrics)
    try:
        await server.start()
        await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    except BaseException:
        await started.stop(None)  # the metrics' port and thread too
        raise
    return started


METRICS_PORT_ENV = "STEPLINE_METRICS_PORT"
FAST_PATH_ENV = "STEPLINE_FAST_PATH"


def run_executors(
    executors: Executors,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    metrics_port: int | None = None,
    security: ServiceSecurity | None = None,
    fast_path: bool | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT; print `listening on HOST:PORT` once ready
    (followed by how: plaintext, TLS, what callers must present).

    When it cannot start (an executor type that cannot work, a taken port, a
    certificate, key or token file it cannot use), it says why in one line on
    stderr and exits with code 2.
    Metrics are served on `metrics_port`, else on $STEPLINE_METRICS_PORT when
    set; traces go where the standard OTEL_* variables say (`stepline.telemetry`).
    TLS and caller authentication follow `security`, else the environment:
    STEPLINE_EXECUTOR_TLS_CERT and STEPLINE_EXECUTOR_TLS_KEY (PEM files:
    serve TLS), STEPLINE_EXECUTOR_CLIENT_CA (require client certificates it
    signed) and STEPLINE_EXECUTOR_TOKEN_FILE (require the token in that file); see
    `ServiceSecurity.from_environment`.
    `fast_path` (see `serve_executors`) defaults to $STEPLINE_FAST_PATH, on
    unless that is `off`.
    """
    tracer_provider = None
    try:
        if metrics_port is None and os.environ.get(METRICS_PORT_ENV):
            metrics_port = _port(os.environ[METRICS_PORT_ENV], METRICS_PORT_ENV)
        served = security if security is not None else ServiceSecurity.from_environment()
        if warning := exposure_warning(host, served):
            print(f"stepline executors: {warning}", file=sys.stderr, flush=True)
        if fast_path is None:
            fast_path = _switch(os.environ.get(FAST_PATH_ENV, "on"), FAST_PATH_ENV)
        tracer_provider = configure_tracing("stepline-executors")
    except ValueError as exc:  # TracingConfigError too
        print(f"stepline executors: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None

    async def main() -> None:
        server = await serve_executors(
            executors,
            host=host,
            port=port,
            metrics_port=metrics_port,
            security=served,
            fast_path=fast_path,
        )
        if server.metrics_port is not None:
            print(f"stepline executor metrics on {host}:{server.metrics_port}", flush=True)
        how = served.summary()
        print(f"stepline executors listening on {host}:{server.port} ({how})", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop()

    try:
        asyncio.run(main())
    except (OSError, ExecutorFactoryError, ValueError) as exc:
        print(f"stepline executors: {' '.join(str(exc).split())}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    finally:
        if tracer_provider is not None:
            tracer_provider.shutdown()  # flush the spans still batched
    sys.stdout.flush()


def _port(text: str, name: str) -> int:
    port = int(text) if text.strip().isdigit() else -1
    if not 0 <= port <= 65535:
        raise ValueError(f"{name} must be a port number (0-65535), not {text[:20]!r}")
    return port


def _switch(text: str, name: str) -> bool:
    if text not in ("on", "off"):
        raise ValueError(f"{name} must be on or off, not {text[:20]!r}")
    return text == "on"
