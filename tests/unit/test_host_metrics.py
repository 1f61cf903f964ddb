"""The executor host times each handler call and counts those that raise,
by executor type; with no instruments it records nothing."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from stepline import payloads
from stepline.executor import Executor, WorkflowContext, handler
from stepline.host import ExecutorHost
from stepline.telemetry import HostInstruments
from stepline.v1 import executor_pb2, payload_pb2


class Picky(Executor):
    @handler
    async def take(self, n: int, ctx: WorkflowContext) -> None:
        if n < 0:
            raise ValueError("negative")


def execute(*numbers: int) -> executor_pb2.ExecuteRequest:
    return executor_pb2.ExecuteRequest(
        run_id="r",
        executor_id="p",
        executor_type="picky",
        superstep=1,
        messages=[payload_pb2.Message(target_id="p", payload=payloads.encode(n)) for n in numbers],
    )


async def test_handler_calls_and_errors_are_counted_by_executor_type() -> None:
    registry = CollectorRegistry()
    host = ExecutorHost({"picky": Picky}, HostInstruments(registry))

    assert not (await host.execute(execute(1, 2))).HasField("error")
    assert (await host.execute(execute(3, -1))).error.type == "ValueError"

    labels = {"executor_type": "picky"}
    count = registry.get_sample_value("stepline_executor_handler_duration_seconds_count", labels)
    errors = registry.get_sample_value("stepline_executor_handler_errors_total", labels)
    assert (count, errors) == (4, 1)


def test_no_instruments_cost_no_context_of_their_own() -> None:
    off = HostInstruments()
    assert not off.active
    assert off.handler("t", "h", "r", "x", 1) is off.handler("u", "g", "s", "y", 2)
