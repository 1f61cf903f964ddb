"""Tracing set up from the standard OTEL_* environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)

from stepline.telemetry._jsonl import JsonLinesSpanExporter

TRACES_FILE_ENV = "STEPLINE_TRACES_FILE"
EXPORTERS = ("otlp", "console", "jsonl")


class TracingConfigError(ValueError):
    """The OTEL_* settings ask for something that cannot work here."""


def exporter_names(environ: Mapping[str, str] | None = None) -> list[str]:
    """The span exporters the environment asks for; [] means tracing is off.

    Without OTEL_TRACES_EXPORTER, tracing is on only when an OTLP endpoint is
    given, so that a process nobody configured exports nothing and pays nothing.
    """
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    raw = env.get("OTEL_TRACES_EXPORTER")
    if raw is None:
        endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        return ["otlp"] if endpoint else []
    names = [n.strip().lower() for n in raw.split(",") if n.strip()]
    unknown = [n for n in names if n not in (*EXPORTERS, "none")]
    if unknown:
        raise TracingConfigError(
            f"OTEL_TRACES_EXPORTER names {unknown[0][:40]!r}; this process knows "
            f"{', '.join(EXPORTERS)} and none"
        )
    return [n for n in names if n != "none"]


def configure_tracing(
    service_name: str, environ: Mapping[str, str] | None = None
) -> TracerProvider | None:
    """Install a global tracer provider as the OTEL_* variables say.

    Returns it (call its ``shutdown()`` to flush before exiting), or None when
    tracing is off. ``OTEL_SERVICE_NAME`` or ``OTEL_RESOURCE_ATTRIBUTES`` win
    over `service_name`. Raises `TracingConfigError`.
    """
    env = os.environ if environ is None else environ
    names = exporter_names(env)
    if not names:
        return None
    exporters = [span_exporter(name, env) for name in names]
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    provider = TracerProvider(resource=resource)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider


def span_exporter(name: str, env: Mapping[str, str]) -> SpanExporter:
    """The exporter `name` (one of EXPORTERS) as `env` configures it."""
    if name == "console":
        return ConsoleSpanExporter()
    if name == "jsonl":
        path = env.get(TRACES_FILE_ENV)
        if not path:
            raise TracingConfigError(f"OTEL_TRACES_EXPORTER=jsonl needs {TRACES_FILE_ENV}=<file>")
        return JsonLinesSpanExporter(path)
    return _otlp(env)


def _otlp(env: Mapping[str, str]) -> SpanExporter:
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        elif protocol == "http/protobuf":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[assignment]
                OTLPSpanExporter,
            )
        else:
            raise TracingConfigError(
                f"OTEL_EXPORTER_OTLP_PROTOCOL {protocol[:40]!r} is not supported; "
                "use grpc or http/protobuf"
            )
    except ImportError as exc:
        raise TracingConfigError(
            "OTEL_TRACES_EXPORTER=otlp needs the OTLP exporter: pip install 'stepline[otlp]'"
        ) from exc
    return OTLPSpanExporter()
