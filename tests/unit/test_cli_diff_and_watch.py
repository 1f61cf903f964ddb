"""The pure parts of `stepline checkpoint diff` and `stepline run watch`, and
the parsing of command-line values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import typer
from google.protobuf.timestamp_pb2 import Timestamp

from stepline import payloads
from stepline.cli import inputs
from stepline.cli.checkpoint_diff import (
    Change,
    diff_checkpoints,
    diff_lines,
    json_changes,
    list_diff,
    payload_map_diff,
)
from stepline.cli.checkpoints import _content_lines as content_lines
from stepline.cli.checkpoints import _fields as checkpoint_fields
from stepline.cli.events_view import WatchModel, event_line
from stepline.cli.runs import timer_fields
from stepline.v1 import events_pb2 as E
from stepline.v1 import payload_pb2, runner_pb2


def test_json_changes_walk_objects_and_arrays() -> None:
    before = {"count": 1, "seen": [0], "gone": True, "nested": {"a": 1, "b": [1, 2]}}
    after = {"count": 2, "seen": [0, 3], "new": None, "nested": {"a": 1, "b": [1]}}
    changes = json_changes(before, after)
    assert [c.text() for c in changes] == [
        "~ $.count: 1 -> 2",
        "- $.gone: true",
        "- $.nested.b[1]: 2",
        "+ $.new: null",
        "+ $.seen[1]: 3",
    ]
    assert json_changes(before, before) == []
    # 1 and 1.0 and True are not the same JSON value.
    assert json_changes({"x": 1}, {"x": True}) == [Change("$.x", 1, True)]
    assert json_changes([1], {"a": 1}) == [Change("$", [1], {"a": 1})]


def test_maps_of_states_by_executor() -> None:
    diff = payload_map_diff(
        {"a": payloads.encode({"n": 1}), "b": payloads.encode({"n": 1}), "c": payloads.encode(1)},
        {"a": payloads.encode({"n": 2}), "b": payloads.encode({"n": 1}), "d": payloads.encode(1)},
    )
    assert (diff.added, diff.removed, diff.unchanged) == (["d"], ["c"], ["b"])
    assert diff.changed == {"a": [Change("$.n", 1, 2)]}
    binary = payload_pb2.Payload(type_name="x", content_type="application/x-protobuf")
    changed = payload_map_diff(
        {"p": binary}, {"p": payload_pb2.Payload(type_name="x", data=b"\x01\x02")}
    )
    assert changed.changed["p"][0].path == "$"


def test_lists_compare_as_multisets() -> None:
    diff = list_diff(["m1", "m2", "m2"], ["m2", "m3"])
    assert (diff.removed, diff.added, diff.count) == (["m1", "m2"], ["m3"], (3, 2))
    assert list_diff(["x", "y"], ["y", "x"]).same


def test_a_checkpoint_diff_reads_section_by_section() -> None:
    def checkpoint(cid: str, state: dict[str, int], request: bool) -> runner_pb2.Checkpoint:
        content = runner_pb2.CheckpointContent(
            executor_states={"a": payloads.encode(state)},
            pending_messages=[
                payload_pb2.Message(source_id="a", target_id="b", payload=payloads.encode(1))
            ],
            shared_state={"k": payloads.encode(state["n"])},
        )
        if request:
            content.pending_requests.add(request_id="r1", executor_id="a", response_type="int")
        return runner_pb2.Checkpoint(checkpoint_id=cid, run_id="r", superstep=1, content=content)

    diff = diff_checkpoints(checkpoint("c1", {"n": 1}, False), checkpoint("c2", {"n": 2}, True))
    lines = diff_lines(diff)
    assert lines[2:] == [
        "executor states: 1 changed, 0 added, 0 removed, 0 unchanged",
        "  ~ a",
        "      ~ $.n: 1 -> 2",
        "pending messages: same (1)",
        "fan-in buffers: same (0)",
        "shared state: 1 changed, 0 added, 0 removed, 0 unchanged",
        "  ~ k",
        "      ~ $: 1 -> 2",
        "pending requests: 0 -> 1",
        "  + r1 from a wants int: null",
        "pending responses: same (0)",
    ]
    assert not diff.same


def _event(kind: int, seq: int, step: int = 0, ms: int = 0, **fields: object) -> E.Event:
    event = E.Event(kind=kind, sequence=seq, superstep=step, **fields)  # type: ignore[arg-type]
    event.time.CopyFrom(Timestamp(seconds=1000, nanos=ms * 1_000_000))
    return event


def test_the_watch_model_tracks_supersteps_executors_and_status() -> None:
    model = WatchModel("r")
    model.add_executors(["a", "b"])
    for event in [
        _event(E.EVENT_KIND_RUN_STARTED, 1, workflow_id="w"),
        _event(E.EVENT_KIND_STATUS_CHANGED, 2, status=E.RUN_STATUS_RUNNING),
        _event(E.EVENT_KIND_SUPERSTEP_STARTED, 3, 1),
        _event(E.EVENT_KIND_EXECUTOR_INVOKED, 4, 1, 10, executor_id="a"),
        _event(E.EVENT_KIND_EXECUTOR_INVOKED, 5, 1, 11, executor_id="b"),
        _event(E.EVENT_KIND_EXECUTOR_COMPLETED, 6, 1, 35, executor_id="a"),
    ]:
        model.apply(event)
    assert (model.workflow_id, model.superstep, model.status) == ("w", 1, E.RUN_STATUS_RUNNING)
    a, b = model.executors["a"], model.executors["b"]
    assert (a.state, a.invocations, a.last_duration_ms) == ("done", 1, 25.0)
    assert (b.state, b.last_duration_ms) == ("running", None)

    model.apply(_event(E.EVENT_KIND_EXECUTOR_FAILED, 7, 1, 61, executor_id="b"))
    model.apply(_event(E.EVENT_KIND_SUPERSTEP_STARTED, 8, 2))
    assert (a.state, b.state, b.last_duration_ms) == ("idle", "failed", 50.0)
    for seq in range(9, 30):
        model.apply(_event(E.EVENT_KIND_WARNING, seq, 2, message=f"w{seq}"))
    assert len(model.latest) == 8 and model.latest[-1].endswith("WARNING  w29")
    assert model.last_sequence == 29


def test_event_lines_say_what_happened() -> None:
    status = _event(E.EVENT_KIND_STATUS_CHANGED, 12, 3, status=E.RUN_STATUS_COMPLETED)
    assert event_line(status) == "   12 00:16:40 step 3   STATUS_CHANGED  COMPLETED"
    failed = _event(
        E.EVENT_KIND_EXECUTOR_FAILED,
        5,
        1,
        executor_id="b",
        error=payload_pb2.ErrorInfo(type="ValueError", message="bad order"),
    )
    assert event_line(failed).endswith("EXECUTOR_FAILED b  ValueError: bad order")


def test_a_scheduled_retry_says_which_attempt_and_when() -> None:
    retry = _event(
        E.EVENT_KIND_RETRY_SCHEDULED,
        6,
        2,
        executor_id="b",
        attempt=2,
        error=payload_pb2.ErrorInfo(type="TimeoutError", message="slow"),
        message="TimeoutError: slow; attempt 2 of 3 in 1.5s",
        due_time=Timestamp(seconds=1001, nanos=500_000_000),
    )
    assert event_line(retry).endswith(
        "RETRY_SCHEDULED b  TimeoutError: slow; attempt 2 of 3 in 1.5s (at 1970-01-01T00:16:41Z)"
    )
    model = WatchModel("r")
    model.apply(retry)
    assert model.executors["b"].state == "retrying (2)"


def test_times_are_iso_or_ages() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert inputs.moment("90m", "--since", now) == now - timedelta(minutes=90)
    assert inputs.moment("2d", "--since", now) == now - timedelta(days=2)
    assert inputs.moment("2026-12-01T10:00:00Z", "--since") == datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert inputs.moment("2026-12-01", "--since").tzinfo == UTC
    with pytest.raises(typer.Exit) as caught:
        inputs.moment("soon", "--since", now)
    assert caught.value.exit_code == 2


def test_statuses_and_kinds_by_name() -> None:
    assert inputs.run_status("completed") == E.RUN_STATUS_COMPLETED
    assert inputs.run_status("RUN_STATUS_FAILED") == E.RUN_STATUS_FAILED
    waiting = E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS
    assert inputs.run_status("idle-with-pending-requests") == waiting
    assert inputs.event_kind("output") == E.EVENT_KIND_OUTPUT
    for bad in ("unspecified", "", "x" * 1000):
        with pytest.raises(typer.Exit):
            inputs.run_status(bad)


def test_outcome_codes() -> None:
    assert inputs.outcome_code(E.RUN_STATUS_COMPLETED) == 0
    assert inputs.outcome_code(E.RUN_STATUS_FAILED) == 1
    assert inputs.outcome_code(E.RUN_STATUS_CANCELLED) == 1
    assert inputs.outcome_code(E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS) == 0


def test_a_waiting_runs_timers_are_shown_with_the_first_due() -> None:
    timers = [
        payload_pb2.Message(source_id="x", payload=payload_pb2.Payload(type_name="Nap")),
        payload_pb2.Message(source_id="x"),
    ]
    timers[0].deliver_at.CopyFrom(Timestamp(seconds=1001))
    assert timer_fields(timers) == [("timers", "2, the first due at 1970-01-01T00:16:41Z")]
    assert timer_fields([]) == []
    checkpoint = runner_pb2.Checkpoint(checkpoint_id="c")
    checkpoint.content.timers.append(timers[0])
    assert ("timers", "1") in checkpoint_fields(checkpoint)
    assert content_lines(checkpoint, False) == [
        "timer due 1970-01-01T00:16:41Z: x -> (edges) Nap null"
    ]
