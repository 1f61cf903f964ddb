"""The pure parts of what the supervisor does when a driver stops: which
errors pause a run for the store, the pauses before its next tries, and
what failing a run that nothing drives writes."""

from __future__ import annotations

from stepline.v1 import events_pb2, runner_pb2
from stepline_runner.engine.drive_ends import StorePauses, store_out_of_reach, stored_failure
from stepline_runner.engine.errors import InvalidArgument, Reason, StoreFull, StoreUnavailable
from stepline_runner.engine.recovery import RetryPolicy


def test_store_pauses_double_to_their_cap_per_run_and_start_over_once_cleared() -> None:
    pauses = StorePauses(RetryPolicy(initial_backoff=0.5, max_backoff=3.0))

    assert [pauses.next("a") for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert pauses.next("b") == 0.5  # each run its own
    assert "a" in pauses and "c" not in pauses
    pauses.clear("a")
    assert "a" not in pauses and pauses.next("a") == 0.5


def test_only_a_store_out_of_reach_for_now_pauses_a_run() -> None:
    assert store_out_of_reach(StoreFull("disk full"))
    assert store_out_of_reach(StoreUnavailable("locked"))
    assert not store_out_of_reach(InvalidArgument("bad", reason=Reason.INVALID_PAYLOAD))
    assert not store_out_of_reach(RuntimeError("a bug"))


def test_a_stored_failure_is_fenced_by_the_epoch_read_with_the_run() -> None:
    run = runner_pb2.Run(run_id="r", workflow_id="w", superstep=7, epoch=3)

    update, events = stored_failure(run, "ExecutorUnavailable", "gone")

    assert (update.status, update.superstep, update.epoch) == (events_pb2.RUN_STATUS_FAILED, 7, 3)
    assert update.error is not None and update.error.type == "ExecutorUnavailable"
    assert [e.kind for e in events] == [
        events_pb2.EVENT_KIND_RUN_FAILED,
        events_pb2.EVENT_KIND_STATUS_CHANGED,
    ]
    assert events[0].superstep == 7 and events[0].error.message == "gone"
    assert events[1].status == events_pb2.RUN_STATUS_FAILED
