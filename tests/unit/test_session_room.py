"""The room of a shared Session stream: as many calls in flight as its
service says it runs at once, the others wait in order; a call that gives
up while it waits leaves the line, and one handed a slot as it gives up
passes the slot on."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from stepline.limits import SESSION_CALLS, session_calls
from stepline.v1 import executor_pb2
from stepline_runner.api.executor_session import DEADLINE_GRACE, _SharedStream
from stepline_runner.api.session_room import LateInLine, Room, told_time_left
from stepline_runner.engine.ports import ExecutorCallError


async def _entering(room: Room, count: int) -> list[asyncio.Task[bool]]:
    tasks = [asyncio.ensure_future(room.enter()) for _ in range(count)]
    for _ in range(3):
        await asyncio.sleep(0)  # each as far as it goes
    return tasks


async def test_one_until_the_service_says_and_no_bound_if_it_says_none() -> None:
    room = Room()
    entered = await _entering(room, 5)
    assert [t.done() for t in entered] == [True, False, False, False, False]
    room.limit(None)  # an older service, which says nothing
    await asyncio.sleep(0)
    assert all(t.done() for t in entered) and room.taken == 5


async def test_calls_past_the_room_wait_in_order() -> None:
    room = Room()
    room.limit(2)
    first = await _entering(room, 2)
    waiting = await _entering(room, 3)
    assert all(t.done() for t in first) and not any(t.done() for t in waiting)

    room.leave()
    await asyncio.sleep(0)
    assert [t.done() for t in waiting] == [True, False, False]
    assert room.taken == 2


@pytest.mark.parametrize(
    "order",
    [
        "gives up, then a slot frees",  # it leaves the line
        "a slot frees for it, then it gives up",  # it passes the slot on
        "gives up, a slot frees before its task resumes",  # it is passed over
    ],
)
async def test_a_call_that_gives_up_waiting_keeps_no_slot(order: str) -> None:
    room = Room()
    room.limit(1)
    await _entering(room, 1)
    gives_up, next_one = await _entering(room, 2)
    if order.startswith("a slot frees"):
        room.leave()
    gives_up.cancel()
    if order == "gives up, then a slot frees":
        await asyncio.gather(gives_up, return_exceptions=True)
    if order.startswith("gives up"):
        room.leave()
    with pytest.raises(asyncio.CancelledError):
        await gives_up
    await asyncio.sleep(0)
    assert next_one.done() and room.taken == 1


async def test_the_bound_going_lets_every_waiter_in() -> None:
    room = Room()
    room.limit(1)
    await _entering(room, 1)
    waiting = await _entering(room, 3)
    room.limit(None)  # the stream broke: they go, to fail at once
    await asyncio.sleep(0)
    assert all(t.done() for t in waiting) and room.taken == 4


@pytest.mark.parametrize(
    ("said", "most"),
    [
        ("256", 256),
        ("1", 1),
        ("0", None),  # no room is none: no bound
        ("5000000", 1_000_000),
        ("-4", None),
        ("4.5", None),
        ("٣", None),  # a digit, not ASCII
        ("9" * 40, 1_000_000),
        ("0" * 40, None),
        (b"256", None),
    ],
)
def test_what_a_stream_says_of_its_room(said: str | bytes, most: int | None) -> None:
    assert session_calls([("stepline-session-batches", "1"), (SESSION_CALLS, said)]) == most


def test_a_stream_that_says_nothing_of_its_room_has_none() -> None:
    assert session_calls([("stepline-session-batches", "1")]) is None


def test_a_call_that_waited_for_room_tells_the_service_what_is_left_of_its_time() -> None:
    message = executor_pb2.SessionRequest()
    message.timeout.FromSeconds(5)
    told_time_left(message, 2.25, 0.25)  # of 5 s, 2.75 went waiting
    assert message.timeout.ToNanoseconds() == 2_000_000_000
    with pytest.raises(LateInLine):  # only the grace was left: it is not sent
        told_time_left(message, 0.25, 0.25)


class _FakeCall:
    """A Session stream whose service runs one call at once; its replies
    are what the test puts in `replies` (None ends the stream)."""

    def __init__(self) -> None:
        self.replies: asyncio.Queue[executor_pb2.SessionReply | None] = asyncio.Queue()

    async def initial_metadata(self) -> tuple[tuple[str, str], ...]:
        return ((SESSION_CALLS, "1"),)

    async def write(self, request: executor_pb2.SessionRequest) -> None:
        pass

    def __aiter__(self) -> _FakeCall:
        return self

    async def __anext__(self) -> executor_pb2.SessionReply:
        reply = await self.replies.get()
        if reply is None:
            raise StopAsyncIteration
        return reply

    def cancel(self) -> None:
        pass


async def test_a_call_too_late_once_it_has_room_gives_its_slot_back() -> None:
    # Review of 1781762: it raised before it counted as entered, and the
    # slot stayed taken, so every later call on the stream waited for ever.
    loop = asyncio.get_running_loop()
    now = [loop.time()]
    loop.time = lambda: now[0]  # type: ignore[method-assign]
    try:
        call = _FakeCall()
        stream = _SharedStream("svc", SimpleNamespace(Session=lambda: call))  # type: ignore[arg-type]
        await stream._said.wait()  # the room is 1
        first = asyncio.ensure_future(stream.call(executor_pb2.SessionRequest(call_id=1), None))
        late = asyncio.ensure_future(
            stream.call(executor_pb2.SessionRequest(call_id=2), DEADLINE_GRACE + 0.1)
        )
        await asyncio.sleep(0)
        now[0] += 0.15  # its own 0.1 s went by in line; the grace is left
        call.replies.put_nowait(executor_pb2.SessionReply(call_id=1))
        await first
        with pytest.raises(ExecutorCallError, match="DEADLINE_EXCEEDED"):
            await late
        assert stream._room.taken == 0
        call.replies.put_nowait(None)
        await stream.close()
    finally:
        del loop.time
