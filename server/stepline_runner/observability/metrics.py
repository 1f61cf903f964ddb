"""The runner's Prometheus metrics. Labels stay bounded: workflow ids,
executor types, method names, statuses and reasons; never run ids."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from stepline.v1 import events_pb2

from ..store import stats

E = events_pb2
# A superstep or commit takes a millisecond or so on a quiet machine; an
# executor call anything up to minutes.
FAST_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
CALL_BUCKETS = (*FAST_BUCKETS, 30, 60, 300)
STATUS_LABELS = {
    s: E.RunStatus.Name(s).removeprefix("RUN_STATUS_").lower()
    for s in E.RunStatus.values()
    if s != E.RUN_STATUS_UNSPECIFIED
}


class RunnerMetrics:
    """Every metric the runner exports, in a registry of its own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # No `*_created` series: a timestamp per series doubles what is scraped.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        r = self.registry = registry or CollectorRegistry()
        self.superstep_seconds = Histogram(
            "stepline_superstep_duration_seconds",
            "One superstep: executor calls and checkpoint (its commit overlaps the next one).",
            ["workflow"],
            registry=r,
            buckets=FAST_BUCKETS,
        )
        self.commit_seconds = Histogram(
            "stepline_commit_duration_seconds",
            "One store commit of a run's events (and checkpoint).",
            ["workflow"],
            registry=r,
            buckets=FAST_BUCKETS,
        )
        self.call_seconds = Histogram(
            "stepline_executor_call_duration_seconds",
            "One call to an executor service, by method (Execute, SaveCheckpoint, ...).",
            ["workflow", "executor_type", "method"],
            registry=r,
            buckets=CALL_BUCKETS,
        )
        self.call_errors = Counter(
            "stepline_executor_call_errors",
            "Executor calls that failed at the gRPC level, by status code.",
            ["workflow", "executor_type", "method", "code"],
            registry=r,
        )
        self.runs_started = Counter(
            "stepline_runs_started", "Runs started.", ["workflow"], registry=r
        )
        self.runs_finished = Counter(
            "stepline_runs_finished",
            "Runs that ended, by final status (completed, failed, cancelled).",
            ["workflow", "status"],
            registry=r,
        )
        self.rollbacks = Counter(
            "stepline_rollbacks",
            "Rollbacks to the last checkpoint, by reason.",
            ["workflow", "reason"],
            registry=r,
        )
        self.executor_retries = Counter(
            "stepline_executor_unavailable_retries",
            "Pauses to wait for an unreachable executor service before trying again.",
            ["workflow"],
            registry=r,
        )
        self.events_published = Counter(
            "stepline_events_published",
            "Events committed and published, by kind.",
            ["kind"],
            registry=r,
        )
        self.subscribers_dropped = Counter(
            "stepline_subscribers_dropped",
            "Watchers of all runs cut off for falling too far behind.",
            registry=r,
        )
        self.checkpoint_bytes = Counter(
            "stepline_checkpoint_bytes_written",
            "Bytes of executor state written to checkpoints (new content only).",
            ["workflow"],
            registry=r,
        )
        self.active_subscribers = Gauge(
            "stepline_active_subscribers",
            "Open event streams, by method (WatchRun, WatchRuns).",
            ["method"],
            registry=r,
        )
        for kind in E.EventKind.values():
            if kind != E.EVENT_KIND_UNSPECIFIED:
                self.events_published.labels(event_kind_label(kind))
        for method in ("WatchRun", "WatchRuns"):
            self.active_subscribers.labels(method)


def event_kind_label(kind: int) -> str:
    return E.EventKind.Name(kind).removeprefix("EVENT_KIND_").lower()


class OpenRequests:
    """Requests for input that wait for an answer, and since when; fed from
    published events, read from the metrics thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_run: dict[str, dict[str, float]] = {}

    def opened(self, run_id: str, request_id: str, since: float) -> None:
        with self._lock:
            self._by_run.setdefault(run_id, {})[request_id] = since

    def answered(self, run_id: str, request_id: str) -> None:
        with self._lock:
            run = self._by_run.get(run_id)
            if run is not None:
                run.pop(request_id, None)
                if not run:
                    del self._by_run[run_id]

    def ended(self, run_id: str) -> None:
        with self._lock:
            self._by_run.pop(run_id, None)

    def summary(self) -> tuple[int, float | None]:
        """How many are open, and since when the oldest (epoch seconds)."""
        with self._lock:
            times = [t for run in self._by_run.values() for t in run.values()]
        return len(times), min(times, default=None)


class StateCollector(Collector):
    """Gauges read when scraped: runs by status and the database's size from
    the database file, open requests from `OpenRequests`."""

    def __init__(self, db: str | Path, requests: OpenRequests) -> None:
        self.db = db
        self.requests = requests

    def collect(self) -> Iterable[Metric]:
        return self._collect()

    def _collect(self) -> Iterator[Metric]:
        runs = GaugeMetricFamily(
            "stepline_runs", "Runs in the database, by status.", labels=["status"]
        )
        counts = stats.run_counts(self.db)
        for status, label in STATUS_LABELS.items():
            runs.add_metric([label], counts.get(status, 0))
        yield runs
        count, oldest = self.requests.summary()
        yield GaugeMetricFamily(
            "stepline_open_requests", "Requests for input waiting for a response.", value=count
        )
        age = 0.0 if oldest is None else max(time.time() - oldest, 0.0)
        yield GaugeMetricFamily(
            "stepline_oldest_open_request_age_seconds",
            "Age of the oldest request for input still waiting (0 if none).",
            value=age,
        )
        yield GaugeMetricFamily(
            "stepline_database_bytes",
            "Size of the database file and its write-ahead log.",
            value=stats.database_bytes(self.db),
        )
