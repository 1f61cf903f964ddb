"""A Session request's `trace_context` is the caller's word only in W3C form:
anything else is ignored, so a caller cannot pick a bogus parent or make the
service hold an unbounded baggage (what `server_span` does with it)."""

from __future__ import annotations

from opentelemetry import baggage, trace

from stepline.telemetry._grpc import server_span

METHOD = "/stepline.v1.ExecutorService/Execute"
PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_a_w3c_traceparent_is_the_span_s_parent() -> None:
    with server_span(METHOD, {"traceparent": PARENT}) as span:
        assert span.get_span_context().trace_id == 0x0AF7651916CD43DD8448EB211C80319C


def test_a_malformed_traceparent_and_other_keys_are_ignored() -> None:
    carried = {"traceparent": "00-" + "z" * 4096, "x-evil": PARENT, "Traceparent ": PARENT}
    with server_span(METHOD, carried) as span:
        assert span.get_span_context().trace_id == trace.INVALID_SPAN_CONTEXT.trace_id


def test_a_huge_baggage_is_cut_to_the_propagator_s_bounds() -> None:
    carried = {"traceparent": PARENT, "baggage": ",".join(f"k{i}=v{i}" for i in range(20_000))}
    with server_span(METHOD, carried):
        assert len(baggage.get_all()) <= 180
