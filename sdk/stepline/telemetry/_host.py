"""`HostInstruments`: a span and metrics around each handler call of an executor host."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager

from opentelemetry import trace
from prometheus_client import CollectorRegistry, Counter, Histogram

_NOTHING = contextlib.nullcontext()
# Handlers range from microseconds (pure functions) to minutes (model calls).
HANDLER_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    300,
)


class HostInstruments:
    """What an `ExecutorHost` records per handler call: by default nothing.

    With `registry`, handler duration and errors by executor type; with
    tracing installed, a span per call (child of the Execute call's server
    span), so spans that user code opens in a handler nest under it.
    """

    def __init__(self, registry: CollectorRegistry | None = None, tracing: bool = False) -> None:
        self._tracer = trace.get_tracer("stepline.host") if tracing else None
        self._duration: Histogram | None = None
        self._errors: Counter | None = None
        if registry is not None:
            self._duration = Histogram(
                "stepline_executor_handler_duration_seconds",
                "Time in one handler call of an executor, by executor type.",
                ["executor_type"],
                registry=registry,
                buckets=HANDLER_BUCKETS,
            )
            self._errors = Counter(
                "stepline_executor_handler_errors",
                "Handler calls that raised, by executor type.",
                ["executor_type"],
                registry=registry,
            )
        self.active = self._tracer is not None or registry is not None

    def handler(
        self, executor_type: str, handler: str, run_id: str, executor_id: str, superstep: int
    ) -> AbstractContextManager[None]:
        """Around one handler call; an exception it raises counts as an error."""
        if not self.active:
            return _NOTHING
        return self._observe(executor_type, handler, run_id, executor_id, superstep)

    @contextlib.contextmanager
    def _observe(
        self, executor_type: str, handler: str, run_id: str, executor_id: str, superstep: int
    ) -> Iterator[None]:
        started = time.perf_counter()
        span: AbstractContextManager[object] = _NOTHING
        if self._tracer is not None:
            span = self._tracer.start_as_current_span(
                f"handle {executor_type}.{handler}",
                attributes={
                    "stepline.executor_type": executor_type,
                    "stepline.handler": handler,
                    "stepline.run_id": run_id,
                    "stepline.executor_id": executor_id,
                    "stepline.superstep": superstep,
                },
            )
        try:
            with span:
                yield
        except BaseException:
            if self._errors is not None:
                self._errors.labels(executor_type).inc()
            raise
        finally:
            if self._duration is not None:
                self._duration.labels(executor_type).observe(time.perf_counter() - started)


NO_INSTRUMENTS = HostInstruments()
