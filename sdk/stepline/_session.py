"""`SessionCalls`: the calls of one Session stream, on the executor's side.

The task that reads a request makes its call and writes its reply, having
first started the task that reads the next request: so a reply is not one
task switch behind its request (a lone call, the common case, goes from
read to reply in one step of the loop), and calls of other runs never wait
for this one.

Batches (executor.proto, Session): the stream says in its initial metadata
that it takes several calls in one request (`stepline.limits.SESSION_BATCHES`); each call of such a
request runs as a call of its own. Once the caller sent one, the replies
ready while a write is under way go in the next write together
(`SessionReply.replies`): a caller that batches its calls gets fewer writes
back too.

Cancels: the stream says it takes them (`stepline.limits.SESSION_CANCELS`); a `cancel` request stops
its call's handler, and the call sends no reply. A stream the caller cancels
stops every call in flight on it, as a unary call's cancel stops its handler.

Room: at most `most` calls run at once. Calls read past that wait their turn
in order (`_waiting`), and the stream is read on while fewer than `most` wait
and they hold less than `WAITING_BYTES` (at least one may): so a cancel is
read, and stops its call or drops it unstarted, when every slot is taken by a
call that will not end by itself (no deadline); before, the stream was not
read past the room, and such a stream never took a cancel again. Past both
bounds it is not read, and HTTP/2 flow control holds the caller back: a
caller cannot make the service hold calls without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from stepline.limits import batch_size
from stepline.v1 import executor_pb2

log = logging.getLogger("stepline.serve")
Reply = Callable[[executor_pb2.SessionRequest], Awaitable[executor_pb2.SessionReply]]
# Bytes of the calls read that wait for a slot, past which the stream is not read.
WAITING_BYTES = 64 * 1024 * 1024


class SessionCalls:
    """Serves one stream: `reply` makes a request's reply; at most `most`
    calls run at once, and the stream is not read while `most` more (or
    `waiting_bytes` of them) wait their turn (see the module's docstring)."""

    def __init__(
        self,
        context: grpc.aio.ServicerContext[Any, Any],
        reply: Reply,
        most: int,
        waiting_bytes: int = WAITING_BYTES,
    ) -> None:
        self._context = context
        self._reply = reply
        self._writing = asyncio.Lock()  # one write at a time on a stream
        self._most = most
        self._free = most  # slots: calls that may start now
        # Calls read that wait for a slot, in order: by their place in line
        # (an OrderedDict: a cancel takes one out of the middle at no cost).
        # Each with its size, measured once.
        self._waiting: OrderedDict[int, tuple[executor_pb2.SessionRequest, int]] = OrderedDict()
        self._places: dict[int, int] = {}  # call id -> its place in line
        self._arrivals = itertools.count()
        self._waiting_size = 0  # their bytes
        self._waiting_bytes = waiting_bytes
        self._held = False  # the next read waits for room among the waiting
        self._tasks: set[asyncio.Task[None]] = set()
        self._reading: set[asyncio.Task[None]] = set()  # waiting for a request
        # Done when the caller closed its side of the stream, or a read failed.
        self._ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._stopping = False  # the stream is over: nothing more starts
        self._batched = False  # the caller sent several calls in one request
        self._replies: list[executor_pb2.SessionReply] = []  # for the next write
        self._replying = False  # a task writes them
        self._running: dict[int, asyncio.Task[Any]] = {}  # call id -> its task, while it runs
        # The tasks of calls stopped by a `cancel` (by task: a caller may reuse an id).
        self._cancelled: set[asyncio.Task[Any]] = set()

    async def serve(self) -> None:
        """Until the caller has closed its side and every call has replied;
        a read that failed raises what it raised."""
        self._next()
        try:
            try:
                await self._ended
            finally:
                for reader in list(self._reading):
                    reader.cancel()  # waiting for a request that will not come
            while self._tasks:  # a call's task may start another (a waiting call, a reply writer)
                await asyncio.wait(self._tasks)
        except BaseException:
            # The caller cancelled the stream (perhaps once its side was
            # closed, as a cancel may read), or it broke: its calls stop, as
            # unary ones would (their replies could go nowhere).
            self._stopping = True
            self._waiting.clear()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            raise

    def _next(self) -> None:
        task = self._spawn(self._read_and_call())
        self._reading.add(task)
        task.add_done_callback(self._reading.discard)

    def _spawn(self, work: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._over)
        return task

    def _over(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("a Session stream's task failed: %r", error, exc_info=error)

    async def _read_and_call(self) -> None:
        request = await self._read()
        if request is None:
            return
        if request.calls:
            self._batched = True
        own = None  # the request's last call, run in this task if it may start now
        for call in request.calls or (request,):
            if call.cancel:
                self._cancel(call.call_id)
                own = None if own is not None and own.call_id == call.call_id else own
            else:
                self._wait(call)
                own = call
        if own is not None and self._free < len(self._waiting):
            own = None  # it waits its turn: a call that ends starts it
        self._start(keep=own)  # the others, in tasks of their own
        if own is not None:  # `_start` stopped at it, each call before it started
            self._take()
            self._running[own.call_id] = task = self._current()
        self._read_on()  # the next request is read meanwhile, by another task
        if own is not None:
            try:
                await self._call(own)
            finally:
                self._ran(own.call_id, task)

    def _wait(self, call: executor_pb2.SessionRequest) -> None:
        place, size = next(self._arrivals), call.ByteSize()
        self._waiting[place] = (call, size)
        self._places[call.call_id] = place
        self._waiting_size += size

    def _take(self) -> executor_pb2.SessionRequest:
        """The first call waiting leaves the line, to start: it has a slot."""
        place, (call, size) = self._waiting.popitem(last=False)
        if self._places.get(call.call_id) == place:  # (a later call may reuse its id)
            del self._places[call.call_id]
        self._waiting_size -= size
        self._free -= 1
        return call

    def _start(self, keep: executor_pb2.SessionRequest | None = None) -> None:
        """Start waiting calls, in order, while slots are free (up to `keep`,
        which the caller starts)."""
        while self._free and self._waiting and not self._stopping:
            if next(iter(self._waiting.values()))[0] is keep:
                return
            call = self._take()
            task = self._running[call.call_id] = self._spawn(self._call(call))
            # Not in the call's own `finally`: a task cancelled before its
            # first step never runs its code, and would keep its slot.
            task.add_done_callback(functools.partial(self._ran, call.call_id))

    def _ran(self, call_id: int, task: asyncio.Task[Any]) -> None:
        """The call in `task` is over: its slot is free."""
        if self._running.get(call_id) is task:
            del self._running[call_id]
        self._cancelled.discard(task)
        self._free += 1
        self._start()
        if self._held and not self._stopping:
            self._read_on()

    def _read_on(self) -> None:
        """Read the next request now, or (too many wait) once some start."""
        if self._waiting and (
            len(self._waiting) >= self._most or self._waiting_size >= self._waiting_bytes
        ):
            self._held = True
        else:
            self._held = False
            self._next()

    @staticmethod
    def _current() -> asyncio.Task[Any]:
        task = asyncio.current_task()
        assert task is not None
        return task

    async def _call(self, request: executor_pb2.SessionRequest) -> None:
        """The call, in its slot (`_running` names its task), its reply written."""
        task = self._current()
        try:
            reply = await self._reply(request)
        except asyncio.CancelledError:
            if task in self._cancelled:
                task.uncancel()
                return  # stopped as asked: no reply is due
            raise
        if self._stopping:
            return  # the stream is over: the reply goes nowhere
        if self._batched:
            self._replies.append(reply)
            if not self._replying:
                self._replying = True
                self._spawn(self._write_replies())
            return
        await self._write(reply)

    def _cancel(self, call_id: int) -> None:
        """Stop the call's handler, or take it out of the line if it waits."""
        place = self._places.pop(call_id, None)
        if place is not None and (waiting := self._waiting.pop(place, None)) is not None:
            self._waiting_size -= waiting[1]
            return
        task = self._running.get(call_id)
        if task is not None and task not in self._cancelled:
            self._cancelled.add(task)
            task.cancel()

    async def _write_replies(self) -> None:
        """Write the replies ready, in one (as many as `batch_size` lets one
        take), until none is."""
        try:
            while self._replies:
                count = batch_size(self._replies)
                replies, self._replies = self._replies[:count], self._replies[count:]
                if len(replies) == 1:
                    await self._write(replies[0])
                else:
                    await self._write(executor_pb2.SessionReply(replies=replies))
        finally:
            self._replying = False

    async def _write(self, reply: executor_pb2.SessionReply) -> None:
        async with self._writing:
            try:
                await self._context.write(reply)
            except Exception as exc:  # grpc's ExecuteBatchError, say
                # The caller ended the stream (its call was cancelled or
                # timed out): the reply goes nowhere, as a unary one's would.
                log.debug("a Session reply found its stream ended: %r", exc)

    async def _read(self) -> executor_pb2.SessionRequest | None:
        """The next request; None at the end of the stream or when the read
        failed (`serve` raises why)."""
        try:
            request = await self._context.read()
        except asyncio.CancelledError:
            with contextlib.suppress(asyncio.InvalidStateError):
                self._ended.cancel()
            raise
        except BaseException as exc:
            with contextlib.suppress(asyncio.InvalidStateError):
                self._ended.set_exception(exc)
            return None
        finally:
            self._reading.discard(asyncio.current_task())
        if request is grpc.aio.EOF:  # type: ignore[attr-defined]
            self._ended.set_result(None)
            return None
        return request  # type: ignore[no-any-return]
