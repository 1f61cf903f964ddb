"""Runner logs: plain text, or one JSON object per line (`--log-format json`).

The run and superstep in progress live in context variables that the
telemetry scopes set in each run's task, so any line logged while driving a
run names them without the caller passing them along.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

RUN_ID: ContextVar[str] = ContextVar("stepline_run_id", default="")
WORKFLOW_ID: ContextVar[str] = ContextVar("stepline_workflow_id", default="")
SUPERSTEP: ContextVar[int | None] = ContextVar("stepline_superstep", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_FIELDS = ("run_id", "workflow_id", "superstep", "executor_id", "event_kind")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and run_id,
    workflow_id, superstep, executor_id, event_kind, trace_id where they apply."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context: dict[str, object] = {
            "run_id": RUN_ID.get(),
            "workflow_id": WORKFLOW_ID.get(),
            "superstep": SUPERSTEP.get(),
        }
        for name in _FIELDS:
            value = getattr(record, name, None)
            if value is None:
                value = context.get(name)
            if value not in (None, ""):
                out[name] = value
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            out["trace_id"] = f"{span.trace_id:032x}"
            out["span_id"] = f"{span.span_id:016x}"
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging(log_format: str, level: int = logging.INFO) -> None:
    """Root logging to stderr, as text or JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
