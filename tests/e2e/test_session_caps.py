"""A flooded Session stream runs a bounded number of calls at once, in the
Python SDK and in the Node example: a caller cannot make a service start a
call per request it sends. At the cap it still takes cancels."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, ClassVar

import grpc
import pytest

import stepline.serve
from stepline import Executor, WorkflowContext, handler, payloads
from stepline.serve import serve_executors
from stepline.v1 import executor_pb2, executor_pb2_grpc
from stepline_runner.api.executor_client import GrpcExecutors
from tests.support.processes import require_node, start_executors

pytestmark = pytest.mark.asyncio


def unary(run_id: str, message: Any) -> executor_pb2.ExecuteRequest:
    """An Execute of the `held` executor type with one message."""
    request = executor_pb2.ExecuteRequest(run_id=run_id, executor_id="a", executor_type="held")
    request.messages.add(payload=payloads.encode(message))
    return request


class Held(Executor):
    """Waits for the test to let it go, counting how many wait at once."""

    active = 0
    most = 0
    go = asyncio.Event()
    full = asyncio.Event()  # as many wait as a stream runs at once

    @handler
    async def hold(self, n: int, ctx: WorkflowContext) -> None:
        Held.active += 1
        Held.most = max(Held.most, Held.active)
        if Held.active == stepline.serve.MAX_SESSION_CALLS:
            Held.full.set()
        try:
            await Held.go.wait()
        finally:
            Held.active -= 1


async def flood(
    channel: grpc.aio.Channel, count: int, message: Any
) -> grpc.aio.StreamStreamCall[executor_pb2.SessionRequest, executor_pb2.SessionReply]:
    """A Session stream with `count` calls of the `held` executor written on it
    (each of another run), its writing side closed."""
    stub: executor_pb2_grpc.ExecutorServiceAsyncStub = executor_pb2_grpc.ExecutorServiceStub(
        channel
    )
    stream = stub.Session()  # type: ignore[call-arg]  # requests go by write
    for i in range(count):
        held = executor_pb2.ExecuteRequest(run_id=f"r{i}", executor_id="h")
        held.executor_type = "held"
        held.messages.add(payload=payloads.encode(message))
        await stream.write(executor_pb2.SessionRequest(call_id=i + 1, execute=held))
    await stream.done_writing()
    return stream


async def replies(stream: grpc.aio.StreamStreamCall[Any, Any]) -> list[executor_pb2.SessionReply]:
    """Every reply of the stream, in the order they came."""
    return [reply async for reply in stream]


async def test_a_stream_runs_a_bounded_number_of_calls_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A caller that floods one stream gets its calls run a few at a time,
    not one task per request it sent."""
    monkeypatch.setattr(stepline.serve, "MAX_SESSION_CALLS", 4)
    server = await serve_executors({"held": Held})
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        stream = await flood(channel, 12, 0)
        await Held.full.wait()  # four run; the other eight wait unread
        Held.go.set()
        answered = await replies(stream)
    finally:
        Held.go.set()
        await channel.close(None)
        await server.stop(None)

    assert sorted(r.call_id for r in answered) == list(range(1, 13))
    assert all(not r.code for r in answered)
    assert Held.most == 4


@dataclass
class Hold:
    n: int = 0


@dataclass
class Probe:
    pass


@dataclass
class Release:
    pass


@dataclass
class Begun:
    count: int


@dataclass
class Count:
    most: int
    active: int = 0
    begun: list[int] = field(default_factory=list)


def most_seen(reply: executor_pb2.SessionReply) -> int:
    return payloads.decode(reply.execute.outputs[0], Count).most


async def test_the_node_service_runs_a_bounded_number_of_calls_at_once() -> None:
    """The Node example's Session stream caps its calls in flight as the
    Python SDK's does (tests/executors/held.js: a cap of 4, calls that wait
    for a Release sent by unary Execute)."""
    require_node()
    async with await start_executors("node_held") as service:
        channel = grpc.aio.insecure_channel(service.address)
        executors = GrpcExecutors()
        try:
            stream = await flood(channel, 12, Hold())
            # Answered once four Holds wait: by then all twelve would run uncapped.
            at_cap = await executors.execute(service.address, unary("probe", Probe()))
            await executors.execute(service.address, unary("release", Release()))
            answered = await replies(stream)
        finally:
            await executors.close()
            await channel.close(None)

    assert payloads.decode(at_cap.outputs[0], Count) == Count(most=4, active=4)
    assert sorted(r.call_id for r in answered) == list(range(1, 13))
    assert all(not r.code for r in answered)
    assert max(most_seen(r) for r in answered) == 4


class Stuck(Executor):
    """Runs until its call is cancelled, or the test lets it go."""

    begun: ClassVar[list[int]] = []
    changed = asyncio.Condition()
    go = asyncio.Event()

    @handler
    async def stick(self, n: int, ctx: WorkflowContext) -> None:
        async with Stuck.changed:
            Stuck.begun.append(n)
            Stuck.changed.notify_all()
        await Stuck.go.wait()


async def begun(count: int) -> list[int]:
    """Once `count` Stuck calls have begun: which, in order."""
    async with Stuck.changed:
        await Stuck.changed.wait_for(lambda: len(Stuck.begun) >= count)
    return list(Stuck.begun)


async def calls_then_cancels(
    stream: grpc.aio.StreamStreamCall[executor_pb2.SessionRequest, executor_pb2.SessionReply],
    executor_type: str,
    messages: list[Any],
) -> None:
    for i, message in enumerate(messages, 1):
        held = unary(f"r{i}", message)
        held.executor_type = executor_type
        await stream.write(executor_pb2.SessionRequest(call_id=i, execute=held))


async def test_a_stream_at_its_cap_still_takes_cancels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Four calls that never end by themselves take every slot, two more
    wait: a cancel of a waiting one drops it unstarted, a cancel of a running
    one stops it, and the next waiting call starts. Neither cancelled call
    replies. (The stream was not read past the cap: the cancels waited for
    a call to end, for ever here.)"""
    monkeypatch.setattr(stepline.serve, "MAX_SESSION_CALLS", 4)
    Stuck.begun, Stuck.changed, Stuck.go = [], asyncio.Condition(), asyncio.Event()
    server = await serve_executors({"stuck": Stuck})
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    stub: executor_pb2_grpc.ExecutorServiceAsyncStub = executor_pb2_grpc.ExecutorServiceStub(
        channel
    )
    try:
        stream = stub.Session()  # type: ignore[call-arg]
        await calls_then_cancels(stream, "stuck", list(range(1, 7)))
        async with asyncio.timeout(10):
            assert await begun(4) == [1, 2, 3, 4]
            for call_id in (5, 1):  # a waiting one, then a running one
                await stream.write(executor_pb2.SessionRequest(call_id=call_id, cancel=True))
            assert await begun(5) == [1, 2, 3, 4, 6]
        Stuck.go.set()
        await stream.done_writing()
        answered = await replies(stream)
    finally:
        Stuck.go.set()
        await channel.close(None)
        await server.stop(None)

    assert sorted(r.call_id for r in answered) == [2, 3, 4, 6]
    assert all(not r.code for r in answered)


async def test_the_node_service_at_its_cap_still_takes_cancels() -> None:
    """As the Python SDK's (tests/executors/held.js: a cap of 4; a Hold ends
    when its call is cancelled, Begun answers once so many Holds began)."""
    require_node()
    async with await start_executors("node_held") as service:
        channel = grpc.aio.insecure_channel(service.address)
        stub: executor_pb2_grpc.ExecutorServiceAsyncStub = executor_pb2_grpc.ExecutorServiceStub(
            channel
        )
        executors = GrpcExecutors()
        try:
            stream = stub.Session()  # type: ignore[call-arg]
            await calls_then_cancels(stream, "held", [Hold(n) for n in range(1, 7)])
            async with asyncio.timeout(20):
                four = await executors.execute(service.address, unary("b4", Begun(4)))
                for call_id in (5, 1):
                    await stream.write(executor_pb2.SessionRequest(call_id=call_id, cancel=True))
                five = await executors.execute(service.address, unary("b5", Begun(5)))
                await executors.execute(service.address, unary("release", Release()))
                await stream.done_writing()
                answered = await replies(stream)
        finally:
            await executors.close()
            await channel.close(None)

    assert payloads.decode(four.outputs[0], Count).begun == [1, 2, 3, 4]
    assert payloads.decode(five.outputs[0], Count).begun == [1, 2, 3, 4, 6]
    assert sorted(r.call_id for r in answered) == [2, 3, 4, 6]
    assert all(not r.code for r in answered)


async def test_the_runner_keeps_no_more_calls_on_a_stream_than_its_service_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The service says it runs 2 calls at once a stream (and reads 2 more
    past that): the runner sends no more on the shared stream, so that a
    cancel of a run whose call is stuck (no deadline) is read at once. Sent
    all (1 on the lone stream, 7 on the shared one), the cancel was the 8th
    request behind 4 the service took, never read."""
    monkeypatch.setattr(stepline.serve, "MAX_SESSION_CALLS", 2)
    Stuck.begun, Stuck.changed, Stuck.go = [], asyncio.Condition(), asyncio.Event()
    server = await serve_executors({"stuck": Stuck})
    address = f"127.0.0.1:{server.port}"
    executors = GrpcExecutors()

    def stuck(n: int) -> executor_pb2.ExecuteRequest:
        request = unary(f"r{n}", n)
        request.executor_type = "stuck"
        return request

    calls: dict[int, asyncio.Task[executor_pb2.ExecuteResponse]] = {}
    try:
        async with asyncio.timeout(10):
            calls[1] = asyncio.ensure_future(executors.execute(address, stuck(1), session=True))
            await begun(1)  # the lone stream is busy: the others share the other
            for n in range(2, 9):
                calls[n] = asyncio.ensure_future(executors.execute(address, stuck(n), session=True))
            running = await begun(3)
            calls[running[1]].cancel()  # a call of the shared stream
            assert len(await begun(4)) == 4  # its slot went to the next
        Stuck.go.set()
        done = await asyncio.gather(*calls.values(), return_exceptions=True)
    finally:
        Stuck.go.set()
        await executors.close()
        await server.stop(None)

    assert sum(isinstance(r, asyncio.CancelledError) for r in done) == 1
    assert sum(isinstance(r, executor_pb2.ExecuteResponse) for r in done) == 7
