"""Tracing is set up from the standard OTEL_* variables, off unless asked
for; bad settings are refused with a message that says what to do; the
JSON-lines exporter writes spans that can be joined by trace and parent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from stepline.telemetry import (
    JsonLinesSpanExporter,
    TracingConfigError,
    exporter_names,
    span_exporter,
)


def test_tracing_is_off_when_nothing_asks_for_it() -> None:
    assert exporter_names({}) == []
    assert exporter_names({"OTEL_TRACES_EXPORTER": "none"}) == []
    assert exporter_names({"OTEL_TRACES_EXPORTER": "jsonl", "OTEL_SDK_DISABLED": "true"}) == []


def test_an_otlp_endpoint_alone_turns_tracing_on() -> None:
    assert exporter_names({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}) == ["otlp"]
    assert exporter_names({"OTEL_TRACES_EXPORTER": "console, jsonl"}) == ["console", "jsonl"]


def test_an_unknown_exporter_is_refused_with_a_short_quote() -> None:
    with pytest.raises(TracingConfigError, match="otlp, console, jsonl") as caught:
        exporter_names({"OTEL_TRACES_EXPORTER": "zipkin" + "x" * 500})
    assert len(str(caught.value)) < 200


def test_the_jsonl_exporter_needs_its_file() -> None:
    with pytest.raises(TracingConfigError, match="STEPLINE_TRACES_FILE"):
        span_exporter("jsonl", {})


def test_otlp_follows_the_protocol_variable() -> None:
    grpc_exporter = span_exporter("otlp", {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    http_exporter = span_exporter("otlp", {})
    assert "grpc" in type(grpc_exporter).__module__
    assert "http" in type(http_exporter).__module__
    with pytest.raises(TracingConfigError, match="grpc or http/protobuf"):
        span_exporter("otlp", {"OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"})
    grpc_exporter.shutdown()
    http_exporter.shutdown()


def test_jsonl_spans_name_their_trace_parent_and_service(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    provider = TracerProvider()  # not the global one: other tests run in this process
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(path)))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("outer"), tracer.start_as_current_span("inner") as inner:
        inner.set_attribute("stepline.superstep", 3)
    provider.shutdown()

    inner_line, outer_line = (json.loads(line) for line in path.read_text().splitlines())
    assert (inner_line["name"], outer_line["name"]) == ("inner", "outer")
    assert inner_line["trace_id"] == outer_line["trace_id"]
    assert len(inner_line["trace_id"]) == 32
    assert inner_line["parent_id"] == outer_line["span_id"]
    assert outer_line["parent_id"] is None
    assert inner_line["attributes"] == {"stepline.superstep": 3}
    assert inner_line["start_ns"] <= inner_line["end_ns"]
