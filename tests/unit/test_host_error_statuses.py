"""One table maps the executor host's exceptions to gRPC statuses: the served
host (`stepline.serve`, over real gRPC) and the in-process one
(`stepline.testing.InProcessExecutors`) refuse the same calls alike."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from stepline import payloads
from stepline.executor import Executor, WorkflowContext, handler
from stepline.host import NoSuchExecutorObject, StaleEpoch, StateTooLarge, UnknownExecutorType
from stepline.serve import HOST_ERROR_STATUSES, host_error_status, serve_executors
from stepline.testing import InProcessExecutors
from stepline.v1 import executor_pb2, payload_pb2
from stepline_runner.api.executor_client import GrpcExecutors
from stepline_runner.engine.ports import ExecutorCallError, ExecutorPort


class Keeper(Executor):
    @handler
    async def keep(self, n: int, ctx: WorkflowContext) -> None:
        pass

    def on_checkpoint_save(self) -> dict[str, int]:
        return {}

    def on_checkpoint_restore(self, state: dict[str, int]) -> None:
        pass


def test_every_host_exception_has_its_status() -> None:
    assert host_error_status(UnknownExecutorType("x")) == grpc.StatusCode.NOT_FOUND
    assert host_error_status(NoSuchExecutorObject("x")) == grpc.StatusCode.FAILED_PRECONDITION
    assert host_error_status(StateTooLarge("x")) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert host_error_status(payloads.PayloadError("x")) == grpc.StatusCode.INVALID_ARGUMENT
    assert host_error_status(StaleEpoch("r", 1, 2)) == grpc.StatusCode.FAILED_PRECONDITION
    assert host_error_status(RuntimeError("a bug")) is None
    assert len(HOST_ERROR_STATUSES) == 5


@dataclass
class Ports:
    served: ExecutorPort
    in_process: ExecutorPort
    endpoint: str


@pytest.fixture
async def ports() -> AsyncIterator[Ports]:
    server = await serve_executors({"keeper": Keeper})
    endpoint = f"127.0.0.1:{server.port}"
    in_process = InProcessExecutors()
    in_process.add(endpoint, {"keeper": Keeper})
    served = GrpcExecutors()
    try:
        yield Ports(served, in_process, endpoint)
    finally:
        await served.close()
        await server.stop(None)


Call = Callable[[ExecutorPort, str], Awaitable[object]]


def execute_unknown_type(port: ExecutorPort, endpoint: str) -> Awaitable[object]:
    request = executor_pb2.ExecuteRequest(
        run_id="r", executor_id="k", executor_type="nobody", superstep=1
    )
    return port.execute(endpoint, request)


def save_a_pair_never_held(port: ExecutorPort, endpoint: str) -> Awaitable[object]:
    request = executor_pb2.SaveCheckpointRequest(
        run_id="r", executor_id="k", executor_type="keeper"
    )
    return port.save(endpoint, request)


def restore_a_state_that_is_not_json(port: ExecutorPort, endpoint: str) -> Awaitable[object]:
    state = payload_pb2.Payload(type_name="keeper.state", data=b"{not json")
    request = executor_pb2.RestoreCheckpointRequest(
        run_id="r", executor_id="k", executor_type="keeper", state=state
    )
    return port.restore(endpoint, request)


async def execute_with_a_stale_epoch(port: ExecutorPort, endpoint: str) -> object:
    key: dict[str, Any] = {"run_id": "fenced", "executor_id": "k", "executor_type": "keeper"}
    await port.restore(endpoint, executor_pb2.RestoreCheckpointRequest(**key, epoch=3))
    return await port.execute(endpoint, executor_pb2.ExecuteRequest(**key, superstep=1, epoch=2))


@pytest.mark.parametrize(
    ("call", "code", "reason"),
    [
        (execute_unknown_type, "NOT_FOUND", ""),
        (save_a_pair_never_held, "FAILED_PRECONDITION", ""),
        (restore_a_state_that_is_not_json, "INVALID_ARGUMENT", ""),
        (execute_with_a_stale_epoch, "FAILED_PRECONDITION", "STALE_EPOCH"),
    ],
)
async def test_served_and_in_process_hosts_refuse_alike(
    ports: Ports, call: Call, code: str, reason: str
) -> None:
    refusals = []
    for port in (ports.served, ports.in_process):
        with pytest.raises(ExecutorCallError) as refused:
            await call(port, ports.endpoint)
        refusals.append((refused.value.code, refused.value.reason))
    assert refusals == [(code, reason), (code, reason)]
