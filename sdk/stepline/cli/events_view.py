"""Events for people: one line per event, and `WatchModel`, the state of a
run's live view (superstep, a row per executor, the latest events), built
from events alone so that it is tested without a terminal."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from stepline.client import Event, Run
from stepline.v1 import events_pb2

from . import output

E = events_pb2

LATEST = 8


def kind_text(kind: int) -> str:
    return output.enum_text(E.EventKind.Name(kind), "EVENT_KIND_")


def status_text(status: int) -> str:
    return output.enum_text(E.RunStatus.Name(status), "RUN_STATUS_")


def event_detail(event: Event) -> str:
    """What the event says beyond its kind, on one line."""
    if event.kind == E.EVENT_KIND_STATUS_CHANGED:
        return status_text(event.status)
    if event.kind == E.EVENT_KIND_RETRY_SCHEDULED:
        return f"{event.message} (at {output.timestamp_text(event.due_time)})"
    if event.HasField("error") and (event.error.type or event.error.message):
        return f"{event.error.type}: {event.error.message}".strip(": ")
    if event.kind == E.EVENT_KIND_REQUEST_INFO:
        request = event.request
        return (
            f"request {request.request_id} wants {request.response_type}: "
            f"{output.payload_text(request.data, 60)}"
        )
    if event.kind == E.EVENT_KIND_RESPONSE_RECEIVED:
        return f"request {event.request.request_id}: {output.payload_text(event.data, 60)}"
    if event.kind == E.EVENT_KIND_SUPERSTEP_COMPLETED and event.checkpoint_id:
        return f"checkpoint {event.checkpoint_id}"
    parts = [event.name, event.message]
    if event.HasField("data"):
        parts.append(output.payload_text(event.data, 60))
    if event.kind in (E.EVENT_KIND_RUN_RESUMED, E.EVENT_KIND_ROLLBACK):
        parts.append(f"from checkpoint {event.checkpoint_id}")
    return " ".join(p for p in parts if p)


def event_line(event: Event) -> str:
    """`  12 10:00:01 step 3 EXECUTOR_COMPLETED  b  ...`"""
    time = output.timestamp_text(event.time)[11:19] or "-"
    executor = f" {event.executor_id}" if event.executor_id else ""
    detail = event_detail(event)
    by = f"  by {event.principal}" if event.principal else ""
    return (
        f"{event.sequence:>5} {time} step {event.superstep:<3} {kind_text(event.kind)}"
        f"{executor}{'  ' + detail if detail else ''}{by}"
    )


@dataclass
class ExecutorRow:
    executor_id: str
    state: str = "idle"  # idle, running, done, failed, retrying
    invocations: int = 0
    last_duration_ms: float | None = None
    _started_ns: int = 0


@dataclass
class WatchModel:
    """What `run watch` shows, updated event by event."""

    run_id: str
    workflow_id: str = ""
    status: int = E.RUN_STATUS_UNSPECIFIED
    superstep: int = 0
    executors: dict[str, ExecutorRow] = field(default_factory=dict)
    latest: deque[str] = field(default_factory=lambda: deque(maxlen=LATEST))
    last_sequence: int = 0
    outcome: Run | None = None
    reconnects: int = 0

    def row(self, executor_id: str) -> ExecutorRow:
        row = self.executors.get(executor_id)
        if row is None:
            row = self.executors[executor_id] = ExecutorRow(executor_id)
        return row

    def apply(self, event: Event) -> None:
        self.last_sequence = event.sequence
        self.superstep = max(self.superstep, event.superstep)
        self.latest.append(event_line(event))
        kind = event.kind
        if kind == E.EVENT_KIND_RUN_STARTED and event.workflow_id:
            self.workflow_id = event.workflow_id
        elif kind == E.EVENT_KIND_STATUS_CHANGED:
            self.status = event.status
        elif kind == E.EVENT_KIND_SUPERSTEP_STARTED:
            for row in self.executors.values():
                if row.state != "failed":
                    row.state = "idle"
        elif kind == E.EVENT_KIND_EXECUTOR_INVOKED:
            row = self.row(event.executor_id)
            row.state, row._started_ns = "running", event.time.ToNanoseconds()
            row.invocations += 1
        elif kind in (E.EVENT_KIND_EXECUTOR_COMPLETED, E.EVENT_KIND_EXECUTOR_FAILED):
            row = self.row(event.executor_id)
            row.state = "done" if kind == E.EVENT_KIND_EXECUTOR_COMPLETED else "failed"
            if row._started_ns:
                row.last_duration_ms = (event.time.ToNanoseconds() - row._started_ns) / 1e6
        elif kind == E.EVENT_KIND_RETRY_SCHEDULED:
            self.row(event.executor_id).state = f"retrying ({event.attempt})"
        elif kind in (E.EVENT_KIND_ROLLBACK, E.EVENT_KIND_RUN_RESUMED):
            for row in self.executors.values():
                row.state = "idle"

    def add_executors(self, executor_ids: list[str]) -> None:
        """Rows for every executor of the workflow, before any has run."""
        for executor_id in executor_ids:
            self.row(executor_id)
