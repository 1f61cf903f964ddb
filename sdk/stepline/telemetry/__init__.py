"""Traces and metrics of Stepline processes.

Tracing follows the standard ``OTEL_*`` environment variables
(``OTEL_TRACES_EXPORTER``, ``OTEL_SERVICE_NAME``, ``OTEL_EXPORTER_OTLP_*``...);
with none of them set it is off and costs nothing. Trace context travels in
gRPC metadata as W3C ``traceparent``: `client_interceptors` send it,
`ServerTracing` continues it.

Exporter names: ``otlp`` (the ``stepline[otlp]`` extra), ``console`` (stdout),
``jsonl`` (one JSON object per span, appended to ``$STEPLINE_TRACES_FILE``).
Errors: `TracingConfigError` (a ``ValueError``) for a setting that cannot work.
"""

from stepline.telemetry._config import (
    TRACES_FILE_ENV,
    TracingConfigError,
    configure_tracing,
    exporter_names,
    span_exporter,
)
from stepline.telemetry._grpc import (
    ServerTracing,
    call_status,
    client_interceptors,
    inject_metadata,
    method_name,
    record_status,
    server_span,
    tracing_installed,
)
from stepline.telemetry._host import NO_INSTRUMENTS, HostInstruments
from stepline.telemetry._jsonl import JsonLinesSpanExporter
from stepline.telemetry._metrics import (
    MetricsAllow,
    MetricsRefusal,
    MetricsTls,
    serve_metrics,
)

__all__ = [
    "NO_INSTRUMENTS",
    "TRACES_FILE_ENV",
    "HostInstruments",
    "JsonLinesSpanExporter",
    "MetricsAllow",
    "MetricsRefusal",
    "MetricsTls",
    "ServerTracing",
    "TracingConfigError",
    "call_status",
    "client_interceptors",
    "configure_tracing",
    "exporter_names",
    "inject_metadata",
    "method_name",
    "record_status",
    "serve_metrics",
    "server_span",
    "span_exporter",
    "tracing_installed",
]
