"""The calls a Session stream reads past its room wait in line (`most` run
at once): a cancel takes a waiting call out of the line, request and all,
and a call that is cancelled before its task first ran still gives its slot
back (review of bcdbe60: the slot was lost for good, and a flood of "call,
cancel" pairs kept every request in memory). A stream cancelled after its
caller's side was closed (a cancel may read as that first) stops its calls
(0cc4e5d waited for them, and a stuck one ran on: 2 runs in 100 of
tests/e2e/test_session_cancel.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from stepline._session import SessionCalls
from stepline.v1 import executor_pb2

Request = executor_pb2.SessionRequest


class FakeContext:
    def __init__(self) -> None:
        self.requests: asyncio.Queue[Any] = asyncio.Queue()
        self.drained = asyncio.Event()  # a read found nothing more to read
        self.emptied = asyncio.Event()  # a read took the last request there was
        self.written: list[int] = []

    async def read(self) -> Any:
        if self.requests.empty():
            self.drained.set()
        request = await self.requests.get()
        if self.requests.empty():
            self.emptied.set()
        return request

    async def write(self, reply: executor_pb2.SessionReply) -> None:
        self.written.append(reply.call_id)


class Calls:
    """Handlers that wait for the test: `started[id]` is set once a call runs,
    `go[id]` lets it reply."""

    def __init__(self) -> None:
        self.started: dict[int, asyncio.Event] = {}
        self.go: dict[int, asyncio.Event] = {}
        self.order: list[int] = []
        self.cancelled: list[int] = []

    def of(self, call_id: int) -> tuple[asyncio.Event, asyncio.Event]:
        return (
            self.started.setdefault(call_id, asyncio.Event()),
            self.go.setdefault(call_id, asyncio.Event()),
        )

    async def reply(self, request: Request) -> executor_pb2.SessionReply:
        started, go = self.of(request.call_id)
        self.order.append(request.call_id)
        started.set()
        try:
            await go.wait()
        except asyncio.CancelledError:
            self.cancelled.append(request.call_id)
            raise
        return executor_pb2.SessionReply(call_id=request.call_id)


async def test_a_call_cancelled_as_a_slot_frees_gives_its_slot_back() -> None:
    context, calls = FakeContext(), Calls()
    serving = asyncio.ensure_future(SessionCalls(context, calls.reply, 2).serve())  # type: ignore[arg-type]
    try:
        for call_id in (1, 9, 2):  # 1 and 9 run, 2 waits
            context.requests.put_nowait(Request(call_id=call_id))
        async with asyncio.timeout(5):
            await calls.of(1)[0].wait()
            await calls.of(9)[0].wait()
            await context.drained.wait()
            calls.of(1)[1].set()  # 1 ends, which starts 2, as 2's cancel is read
            context.requests.put_nowait(Request(call_id=2, cancel=True))
            context.requests.put_nowait(Request(call_id=3))
            await calls.of(3)[0].wait()  # the slot 1 left came back
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)

    assert calls.order == [1, 9, 3]
    assert context.written == [1]


async def test_calls_cancelled_while_they_wait_leave_nothing_behind() -> None:
    context, calls = FakeContext(), Calls()
    session = SessionCalls(context, calls.reply, 1)  # type: ignore[arg-type]
    serving = asyncio.ensure_future(session.serve())
    try:
        context.requests.put_nowait(Request(call_id=1))  # takes the one slot, for ever
        for call_id in range(2, 10_002):
            call = Request(call_id=call_id)
            call.execute.run_id = "x" * 1000
            context.requests.put_nowait(
                Request(calls=[call, Request(call_id=call_id, cancel=True)])
            )
        async with asyncio.timeout(30):
            await calls.of(1)[0].wait()
            await context.drained.wait()
        assert not session._waiting  # none of the 10,000 requests is held
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
    assert calls.order == [1]


async def test_a_stream_cancelled_once_its_side_was_closed_stops_its_calls() -> None:
    context, calls = FakeContext(), Calls()
    serving = asyncio.ensure_future(SessionCalls(context, calls.reply, 4).serve())  # type: ignore[arg-type]
    context.requests.put_nowait(Request(call_id=1))
    context.requests.put_nowait(grpc.aio.EOF)  # type: ignore[attr-defined]
    async with asyncio.timeout(5):
        await calls.of(1)[0].wait()
        await context.emptied.wait()  # the EOF is read
    for _ in range(3):
        await asyncio.sleep(0)  # serve waits for the call now
    serving.cancel()
    await asyncio.gather(serving, return_exceptions=True)
    assert calls.cancelled == [1]
