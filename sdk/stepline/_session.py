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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from stepline.limits import batch_size
from stepline.v1 import executor_pb2

log = logging.getLogger("stepline.serve")
Reply = Callable[[executor_pb2.SessionRequest], Awaitable[executor_pb2.SessionReply]]


class SessionCalls:
    """Serves one stream: `reply` makes a request's reply; at most `most`
    calls run at once (past it the stream is not read, and HTTP/2 flow
    control holds the caller back: a caller cannot make the service start a
    call per request it sends, without bound)."""

    def __init__(
        self, context: grpc.aio.ServicerContext[Any, Any], reply: Reply, most: int
    ) -> None:
        self._context = context
        self._reply = reply
        self._writing = asyncio.Lock()  # one write at a time on a stream
        self._room = asyncio.Semaphore(most)
        self._tasks: set[asyncio.Task[None]] = set()
        self._reading: set[asyncio.Task[None]] = set()  # waiting for a request
        # Done when the caller closed its side of the stream, or a read failed.
        self._ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
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
            await self._ended
        except asyncio.CancelledError:
            # The caller cancelled the stream: its calls stop, as unary ones would.
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            raise
        finally:
            for reader in list(self._reading):
                reader.cancel()  # waiting for a request that will not come
        while self._tasks:  # a call's task may start another (a batch's, a reply writer)
            await asyncio.gather(*self._tasks)

    def _next(self) -> None:
        task = asyncio.create_task(self._read_and_call())
        self._tasks.add(task)
        self._reading.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(self._reading.discard)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read_and_call(self) -> None:
        await self._room.acquire()
        held = True  # this task's slot
        try:
            request = await self._read()
            if request is None:
                return
            if request.calls:
                self._batched = True
                *others, request = request.calls  # the last is this task's own
                for call in others:
                    # The slot goes to the call's task; the next call waits for
                    # one (the stream is not read on meanwhile, as for a lone call).
                    held = False
                    self._spawn(self._call_then_free(call))
                    await self._room.acquire()
                    held = True
            self._next()  # the next request is read meanwhile, by another task
            await self._call(request)
        finally:
            if held:
                self._room.release()

    async def _call_then_free(self, request: executor_pb2.SessionRequest) -> None:
        try:
            await self._call(request)
        finally:
            self._room.release()

    async def _call(self, request: executor_pb2.SessionRequest) -> None:
        call_id = request.call_id
        if request.cancel:
            self._cancel(call_id)
            return
        task = asyncio.current_task()
        assert task is not None
        self._running[call_id] = task
        try:
            reply = await self._reply(request)
        except asyncio.CancelledError:
            if task in self._cancelled:
                task.uncancel()
                return  # stopped as asked: no reply is due
            raise
        finally:
            if self._running.get(call_id) is task:
                del self._running[call_id]
            self._cancelled.discard(task)
        if self._batched:
            self._replies.append(reply)
            if not self._replying:
                self._replying = True
                self._spawn(self._write_replies())
            return
        await self._write(reply)

    def _cancel(self, call_id: int) -> None:
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
