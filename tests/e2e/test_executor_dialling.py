"""How the SDK's own tools dial an executor service (the conformance suite's
`connect`, which `stepline executor check` runs, and `describe_service`,
which `stepline executor describe` and the console run): with the options
every client channel takes, so a service that comes up is reached at once
by a new channel, even while an earlier channel in the same process that
found it down is still backing off."""

from __future__ import annotations

import grpc
import pytest

from stepline.cli.executors import describe_service
from stepline.conformance import connect
from stepline.conformance.probe import Probe
from stepline.testing import free_port, start_executor_service
from stepline.v1 import executor_pb2, executor_pb2_grpc
from tests.support.processes import ROOT

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_a_new_probe_reaches_a_service_an_earlier_one_found_down() -> None:
    port = free_port()
    address = f"127.0.0.1:{port}"
    early = Probe.channel(address)
    with pytest.raises(grpc.aio.AioRpcError) as down:  # nothing listens there yet
        await executor_pb2_grpc.ExecutorServiceStub(early).Describe(
            executor_pb2.DescribeRequest(), timeout=10
        )
    service = await start_executor_service(
        ROOT / "tests" / "executors" / "stages.py", env={"STEPLINE_PORT": str(port)}, cwd=ROOT
    )
    try:
        # Before: each shared the early channel's failed connection and
        # failed UNAVAILABLE ("cannot call Describe") until its backoff ended.
        suite = await connect(address, timeout=10)
        await suite.close()
        described = await describe_service(address, 10)
    finally:
        await early.close(None)
        await service.kill()

    assert down.value.code() == grpc.StatusCode.UNAVAILABLE
    assert suite.sdk.startswith("stepline-python")
    assert [t.name for t in described.executor_types]
