"""A Session call's `timeout`: past it the Python SDK cancels the handler,
as gRPC does a unary call's past its deadline, and replies DEADLINE_EXCEEDED;
within it, or without one, the handler runs to its end."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import grpc
import pytest

from stepline import Executor, WorkflowContext, handler, payloads
from stepline.host import ExecutorHost
from stepline.serve import timed_reply
from stepline.v1 import executor_pb2

pytestmark = pytest.mark.asyncio


class Waits(Executor):
    """Waits until released; says whether it was cancelled."""

    release: ClassVar[asyncio.Event] = asyncio.Event()
    cancelled: ClassVar[list[bool]] = []

    @handler(yields=(int,))
    async def work(self, n: int, ctx: WorkflowContext) -> None:
        try:
            await Waits.release.wait()
        except asyncio.CancelledError:
            Waits.cancelled.append(True)
            raise
        await ctx.yield_output(n)

    def on_checkpoint_save(self) -> dict[str, Any]:
        return {}


def request(timeout: float | None) -> executor_pb2.SessionRequest:
    execute = executor_pb2.ExecuteRequest(
        run_id="r", executor_id="w", executor_type="waits", superstep=1
    )
    execute.messages.add(payload=payloads.encode(7))
    message = executor_pb2.SessionRequest(call_id=3, execute=execute)
    if timeout is not None:
        message.timeout.FromMilliseconds(int(timeout * 1000))
    return message


async def test_a_call_past_its_timeout_is_cancelled_and_answered_deadline_exceeded() -> None:
    Waits.release, Waits.cancelled = asyncio.Event(), []
    host = ExecutorHost({"waits": Waits})
    reply = await timed_reply(host, request(0.05))
    assert (reply.call_id, reply.code) == (3, grpc.StatusCode.DEADLINE_EXCEEDED.value[0])
    assert Waits.cancelled == [True]


@pytest.mark.parametrize("timeout", [None, 30.0])
async def test_a_call_within_its_timeout_or_without_one_runs_to_its_end(
    timeout: float | None,
) -> None:
    Waits.release, Waits.cancelled = asyncio.Event(), []
    Waits.release.set()
    host = ExecutorHost({"waits": Waits})
    reply = await timed_reply(host, request(timeout))
    assert reply.code == 0 and [payloads.json_value(o) for o in reply.execute.outputs] == [7]
    assert Waits.cancelled == []
