"""`Telemetry`: the engine's `Observer` made of Prometheus metrics,
OpenTelemetry spans and log lines. Each part is optional; what is off costs
nothing beyond a test of None."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager

from opentelemetry import trace

from stepline.v1 import events_pb2

from ..statuses import TERMINAL
from .logs import RUN_ID, SUPERSTEP, WORKFLOW_ID
from .metrics import STATUS_LABELS, OpenRequests, RunnerMetrics, event_kind_label

E = events_pb2
log = logging.getLogger("stepline_runner.events")
_NOTHING = contextlib.nullcontext()
# Events worth a line at INFO; the rest (one per executor call...) at DEBUG.
_NOTABLE = {
    E.EVENT_KIND_RUN_STARTED: logging.INFO,
    E.EVENT_KIND_STATUS_CHANGED: logging.INFO,
    E.EVENT_KIND_RUN_RESUMED: logging.INFO,
    E.EVENT_KIND_ROLLBACK: logging.WARNING,
    E.EVENT_KIND_EXECUTOR_FAILED: logging.WARNING,
    E.EVENT_KIND_RUN_FAILED: logging.WARNING,
    E.EVENT_KIND_WARNING: logging.WARNING,
}


class Telemetry:
    """Implements `stepline_runner.engine.observe.Observer`."""

    def __init__(
        self,
        metrics: RunnerMetrics | None = None,
        tracer: trace.Tracer | None = None,
        requests: OpenRequests | None = None,
    ) -> None:
        self.metrics = metrics
        self.tracer = tracer
        self.requests = requests or OpenRequests()

    # -- scopes

    def run(self, run_id: str, workflow_id: str, resumed: bool) -> AbstractContextManager[None]:
        return self._run(run_id, workflow_id, resumed)

    @contextlib.contextmanager
    def _run(self, run_id: str, workflow_id: str, resumed: bool) -> Iterator[None]:
        tokens = RUN_ID.set(run_id), WORKFLOW_ID.set(workflow_id)
        try:
            with self._span(
                "resume run" if resumed else "run",
                {"stepline.run_id": run_id, "stepline.workflow_id": workflow_id},
            ):
                yield
        finally:
            WORKFLOW_ID.reset(tokens[1])
            RUN_ID.reset(tokens[0])

    def superstep(self, workflow_id: str, superstep: int) -> AbstractContextManager[None]:
        return self._superstep(workflow_id, superstep)

    @contextlib.contextmanager
    def _superstep(self, workflow_id: str, superstep: int) -> Iterator[None]:
        token = SUPERSTEP.set(superstep)
        started = time.perf_counter()
        try:
            with self._span("superstep", {"stepline.superstep": superstep}):
                yield
        finally:
            SUPERSTEP.reset(token)
            if self.metrics is not None:
                seconds = time.perf_counter() - started
                self.metrics.superstep_seconds.labels(workflow_id).observe(seconds)

    def commit(self, workflow_id: str) -> AbstractContextManager[None]:
        if self.metrics is None and self.tracer is None:
            return _NOTHING
        return self._commit(workflow_id)

    @contextlib.contextmanager
    def _commit(self, workflow_id: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            with self._span("commit", {}):
                yield
        finally:
            if self.metrics is not None:
                seconds = time.perf_counter() - started
                self.metrics.commit_seconds.labels(workflow_id).observe(seconds)

    def _span(self, name: str, attributes: dict[str, str | int]) -> AbstractContextManager[object]:
        if self.tracer is None:
            return _NOTHING
        return self.tracer.start_as_current_span(name, attributes=attributes)

    # -- facts

    def published(self, workflow_id: str, events: Sequence[events_pb2.Event]) -> None:
        m = self.metrics
        for event in events:
            kind = event.kind
            if m is not None:
                m.events_published.labels(event_kind_label(kind)).inc()
            if kind == E.EVENT_KIND_RUN_STARTED:
                if m is not None:
                    m.runs_started.labels(workflow_id).inc()
            elif kind == E.EVENT_KIND_REQUEST_INFO:
                since = event.time.ToNanoseconds() / 1e9 or time.time()
                self.requests.opened(event.run_id, event.request.request_id, since)
            elif kind == E.EVENT_KIND_RESPONSE_RECEIVED:
                self.requests.answered(event.run_id, event.request.request_id)
            elif kind == E.EVENT_KIND_STATUS_CHANGED and event.status in TERMINAL:
                self.requests.ended(event.run_id)
                if m is not None:
                    m.runs_finished.labels(workflow_id, STATUS_LABELS[event.status]).inc()
            _log_event(workflow_id, event)

    def checkpoint_saved(self, workflow_id: str, new_bytes: int) -> None:
        if self.metrics is not None and new_bytes:
            self.metrics.checkpoint_bytes.labels(workflow_id).inc(new_bytes)

    def rollback(self, workflow_id: str, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.rollbacks.labels(workflow_id, reason).inc()

    def executor_retry(self, workflow_id: str) -> None:
        if self.metrics is not None:
            self.metrics.executor_retries.labels(workflow_id).inc()


def _log_event(workflow_id: str, event: events_pb2.Event) -> None:
    level = _NOTABLE.get(event.kind, logging.DEBUG)
    if not log.isEnabledFor(level):
        return
    kind = E.EventKind.Name(event.kind)
    detail = event.message or (event.error.message if event.HasField("error") else "")
    if event.kind == E.EVENT_KIND_STATUS_CHANGED:
        detail = E.RunStatus.Name(event.status)
    log.log(
        level,
        "run %s superstep %d %s%s%s",
        event.run_id,
        event.superstep,
        kind,
        f" {event.executor_id}" if event.executor_id else "",
        f": {detail[:300]}" if detail else "",
        extra={
            "run_id": event.run_id,
            "workflow_id": workflow_id,
            "superstep": event.superstep,
            "executor_id": event.executor_id or None,
            "event_kind": kind,
        },
    )
