"""`--log-format json`: one JSON object per line, naming the run, superstep,
executor and event kind where they apply, from the record or from the run
being driven."""

from __future__ import annotations

import json
import logging

from stepline_runner.observability.logs import RUN_ID, SUPERSTEP, JsonFormatter


def record(message: str, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("stepline_runner.test", logging.WARNING, __file__, 1, message, (), None)
    rec.__dict__.update(extra)
    return rec


def test_a_line_carries_the_fields_it_was_given() -> None:
    line = JsonFormatter().format(
        record("hello\nworld", run_id="r1", superstep=4, executor_id="a", event_kind="OUTPUT")
    )
    assert "\n" not in line
    data = json.loads(line)
    assert data["message"] == "hello\nworld"
    assert data["level"] == "WARNING"
    assert (data["run_id"], data["superstep"], data["executor_id"], data["event_kind"]) == (
        "r1",
        4,
        "a",
        "OUTPUT",
    )


def test_a_line_logged_while_driving_a_run_names_it() -> None:
    run, step = RUN_ID.set("r2"), SUPERSTEP.set(0)
    try:
        data = json.loads(JsonFormatter().format(record("inside")))
    finally:
        SUPERSTEP.reset(step)
        RUN_ID.reset(run)
    assert (data["run_id"], data["superstep"]) == ("r2", 0)
    assert "executor_id" not in data and "event_kind" not in data


def test_a_line_outside_any_run_has_no_run_fields_and_keeps_the_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        rec = record("failed")
        rec.exc_info = sys.exc_info()
    data = json.loads(JsonFormatter().format(rec))
    assert "run_id" not in data and "superstep" not in data
    assert "ValueError: boom" in data["exception"]
