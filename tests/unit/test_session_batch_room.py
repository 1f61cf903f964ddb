"""A request with `calls` makes the service hold no more calls than its room
(`most`): flow control bounds what a caller makes the service hold, one
request per slot, batches or not (review R4: a batch of N calls made N
tasks at once, each waiting for the room)."""

from __future__ import annotations

import asyncio
from typing import Any

from stepline._session import SessionCalls
from stepline.v1 import executor_pb2


class FakeContext:
    def __init__(self) -> None:
        self.requests: asyncio.Queue[Any] = asyncio.Queue()
        self.reads = 0

    async def read(self) -> Any:
        self.reads += 1
        return await self.requests.get()

    async def write(self, reply: executor_pb2.SessionReply) -> None:
        pass


async def test_a_batch_holds_no_more_tasks_than_the_room() -> None:
    context = FakeContext()
    entered = asyncio.Event()
    running = 0

    async def hold(request: executor_pb2.SessionRequest) -> executor_pb2.SessionReply:
        nonlocal running
        running += 1
        if running == 1:
            entered.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    most = 2
    calls = SessionCalls(context, hold, most)  # type: ignore[arg-type]
    before = len(asyncio.all_tasks())
    serving = asyncio.ensure_future(calls.serve())
    batch = [executor_pb2.SessionRequest(call_id=i) for i in range(1, 10_001)]
    context.requests.put_nowait(executor_pb2.SessionRequest(calls=batch))
    await entered.wait()
    for _ in range(3):  # let whatever the batch started run to where it waits
        await asyncio.sleep(0)
    held = len(asyncio.all_tasks()) - before
    serving.cancel()
    await asyncio.gather(serving, return_exceptions=True)
    assert held <= most + 3, f"{held} tasks for a room of {most}"
