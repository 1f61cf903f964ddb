"""`Room`: the calls in flight on a shared Session stream, as many as its
service says it runs at once; and what a call that waited for room tells
the service of its deadline."""

from __future__ import annotations

import asyncio
from collections import deque

from stepline.v1 import executor_pb2


class Room:
    """The calls in flight on a shared stream: once the service says how many
    it runs at once (`stepline-session-calls`), the others wait here, in
    order, unsent. Past its room a service reads calls on only so far, and
    a cancel behind them would not be read: with every call it runs stuck
    (no deadline), the runner's cancels of their runs would never reach it."""

    def __init__(self) -> None:
        # One until the stream's initial metadata says (calls sent before it
        # came went past the room unbounded); None: it said none, or nothing
        # in time (executor_session.HEADERS_WAIT).
        self.most: int | None = 1
        self.taken = 0
        self._line: deque[asyncio.Future[None]] = deque()

    async def enter(self) -> bool:
        """Take a slot, waiting in line if there is none; whether it waited."""
        if not self._line and (self.most is None or self.taken < self.most):
            self.taken += 1
            return False
        turn = asyncio.get_running_loop().create_future()
        self._line.append(turn)
        try:
            await turn  # its slot is taken for it (`_hand_on`)
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.leave()  # handed a slot as it gave up: the next takes it
            elif turn in self._line:
                self._line.remove(turn)
            raise
        return True

    def leave(self) -> None:
        self.taken -= 1
        self._hand_on()

    def limit(self, most: int | None) -> None:
        """What the service said (None: no bound)."""
        self.most = most
        self._hand_on()

    def _hand_on(self) -> None:
        while self._line and (self.most is None or self.taken < self.most):
            turn = self._line.popleft()
            if not turn.done():  # (cancelled: its caller takes it out, or has)
                self.taken += 1
                turn.set_result(None)


class LateInLine(Exception):
    """A call's deadline (but its grace) passed while it waited for room."""


def told_time_left(message: executor_pb2.SessionRequest, left: float, grace: float) -> None:
    """A call that waited for room has that much less time (`left`, of which
    `grace` is the runner's own): the service is told what is left of its
    `timeout`, so that its own deadline still comes first, not the runner's
    cancel. LateInLine when only the grace is left: it is not sent."""
    left -= grace
    if left <= 0:
        raise LateInLine
    message.timeout.FromNanoseconds(int(left * 1e9))
