"""A restore's deadline grows with the state it carries (api/executor_client.py)."""

from __future__ import annotations

from stepline.v1 import executor_pb2, payload_pb2
from stepline_runner.api.executor_client import (
    RESTORE_BYTES_PER_SECOND,
    RESTORE_TIMEOUT,
    restore_timeout,
)

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
