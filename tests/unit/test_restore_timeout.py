"""A restore's deadline grows with the state it carries (api/executor_client.py),
and a restore that ran out of it says so (engine/recovery.py)."""

from __future__ import annotations

from stepline.v1 import executor_pb2, payload_pb2
from stepline_runner.api.executor_client import (
    RESTORE_BYTES_PER_SECOND,
    RESTORE_TIMEOUT,
    restore_timeout,
)
from stepline_runner.engine.ports import ExecutorCallError
from stepline_runner.engine.recovery import what_it_did

MIB = 1024 * 1024


def restore(state_bytes: int) -> executor_pb2.RestoreCheckpointRequest:
    request = executor_pb2.RestoreCheckpointRequest(run_id="r", executor_id="x")
    if state_bytes:
        request.state.CopyFrom(payload_pb2.Payload(data=b"\0" * state_bytes))
    return request


def test_a_restore_without_state_waits_only_for_the_service() -> None:
    assert restore_timeout(restore(0)) == RESTORE_TIMEOUT


def test_a_large_state_gets_time_for_its_bytes_on_top() -> None:
    small, large = restore_timeout(restore(MIB)), restore_timeout(restore(64 * MIB))
    assert RESTORE_TIMEOUT < small < large
    assert large - RESTORE_TIMEOUT >= 64 * MIB / RESTORE_BYTES_PER_SECOND
    assert large >= 18.0  # 64 MiB: well past the 2 s a loaded machine overran


def test_a_restore_that_timed_out_says_so_not_that_the_service_is_unreachable() -> None:
    late = ExecutorCallError("127.0.0.1:1", "DEADLINE_EXCEEDED", "Deadline Exceeded")
    away = ExecutorCallError("127.0.0.1:1", "UNAVAILABLE", "connection refused")
    refused = ExecutorCallError("127.0.0.1:1", "INTERNAL", "boom")
    assert what_it_did(late) == "did not answer in time (not up, or slow to restore the state)"
    assert what_it_did(away) == "is unreachable"
    assert what_it_did(refused) == "answered INTERNAL: boom"
