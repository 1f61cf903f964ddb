"""`ExecuteSession`: Execute calls to one executor service on open streams.

For a service that advertises `features.session`: each call is a request on
a stream with a `call_id` and comes back as the reply with that id, so calls
go without a call's set-up each. A reply's status is the one the unary
Execute would have had; a service that advertises `features.session_end_run`
takes EndRun calls on the same streams. A stream that breaks (the service
stopped or restarted) fails the calls in flight as UNAVAILABLE, as a unary
call to it would, and the next call opens a new stream.

Two streams per service: a call that finds the first one free has it to
itself and reads its reply off it in its own task (`_LoneStream`: no reader
task between the reply and the caller). Calls made meanwhile share the
other (`_SharedStream`), in any order, its replies read by a task of its
own; so a call's cancel or timeout, which cancels a lone read and with it
the stream (a timeout only once the service's own DEADLINE_EXCEEDED has not
come within `DEADLINE_GRACE`), never fails a call of another run. A call given up on the shared
stream is cancelled by a request of its own (`SessionRequest.cancel`), where
the stream says it takes them: its handler stops, as it does when the lone
stream is cancelled under it, and as a unary call's does. The shared stream
carries no more calls at once than its service says it runs
(`session_room.Room`), so that a cancel is never stuck behind calls the
service has not read.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping

import grpc

from stepline.limits import (
    SESSION_BATCHES,
    SESSION_CANCELS,
    SESSION_END_RUNS,
    batch_size,
    session_calls,
)
from stepline.v1 import executor_pb2, executor_pb2_grpc

from ..engine.ports import ExecutorCallError
from .session_room import LateInLine, Room, told_time_left

_CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}
# How long past a call's `timeout` the runner waits for the service's own
# DEADLINE_EXCEEDED: the service's clock starts when it reads the call, later
# than the runner's, so without it the runner gave up first (on the lone
# stream by cancelling the stream), and a handler was told it was cancelled,
# not late, whenever the stream's cancel outran the service's timer.
DEADLINE_GRACE = 0.25
# How long a shared stream's calls go one at a time waiting for the service's
# initial metadata to say how many it runs at once (the SDK's and the Node
# example's come at once: a round trip), before they go unbounded until it
# comes (a service far away may then have a round trip's calls past its room
# to read on: it does, up to a bound of its own).
HEADERS_WAIT = 0.2
# What a stream's write or read raises once the stream is over.
_STREAM_ERRORS = (grpc.aio.AioRpcError, asyncio.InvalidStateError, grpc.aio.UsageError)


class ExecuteSession:
    def __init__(self, endpoint: str, stub: executor_pb2_grpc.ExecutorServiceAsyncStub) -> None:
        self._endpoint = endpoint
        self._stub = stub
        self._ids = itertools.count(1)
        self._lone: _LoneStream | None = None
        self._shared: _SharedStream | None = None
        # The EndRun calls of this turn of the loop: their message, and its reply.
        self._ending: (
            tuple[executor_pb2.SessionRequest, asyncio.Future[executor_pb2.SessionReply]] | None
        ) = None

    async def execute(
        self,
        request: executor_pb2.ExecuteRequest,
        timeout: float | None,
        trace_context: Mapping[str, str] | None = None,
    ) -> executor_pb2.ExecuteResponse:
        """`trace_context`: the call's W3C trace context, sent with it."""
        message = executor_pb2.SessionRequest(call_id=next(self._ids), execute=request)
        return (await self._call(message, timeout, trace_context)).execute

    async def end_run(
        self,
        request: executor_pb2.EndRunRequest,
        timeout: float | None,
        trace_context: Mapping[str, str] | None = None,
    ) -> executor_pb2.EndRunResponse:
        """EndRun as a call on the stream (`features.session_end_run`): those
        asked for in one turn of the event loop (runs that ended together, as
        a group commit ends them) go in one message, one write and one reply
        for all; a traced one goes alone, in a span of its own."""
        if trace_context:
            message = executor_pb2.SessionRequest(call_id=next(self._ids), end_run=[request])
            return (await self._call(message, timeout, trace_context)).end_run
        ending = self._ending
        if ending is None or len(ending[0].end_run) >= SESSION_END_RUNS:
            message = executor_pb2.SessionRequest()
            ending = self._ending = (message, asyncio.ensure_future(self._end(message, timeout)))
        ending[0].end_run.append(request)
        # Shielded: a caller cancelled (its run stopped) ends nobody else's run.
        return (await asyncio.shield(ending[1])).end_run

    async def _end(
        self, message: executor_pb2.SessionRequest, timeout: float | None
    ) -> executor_pb2.SessionReply:
        # The task's first step: the callbacks of the turn that asked for it have run.
        if self._ending is not None and self._ending[0] is message:
            self._ending = None
        message.call_id = next(self._ids)
        return await self._call(message, timeout, None)

    async def _call(
        self,
        message: executor_pb2.SessionRequest,
        timeout: float | None,
        trace_context: Mapping[str, str] | None,
    ) -> executor_pb2.SessionReply:
        if trace_context:
            message.trace_context.update(trace_context)
        if timeout is not None:  # the service stops the handler then, as for a unary call
            message.timeout.FromNanoseconds(int(timeout * 1e9))
            timeout += DEADLINE_GRACE
        lone = self._lone
        if lone is None or lone.broken is not None:
            lone = self._lone = _LoneStream(self._endpoint, self._stub)
        if not lone.busy:
            reply = await lone.call(message, timeout)
        else:
            shared = self._shared
            if shared is None or shared.broken is not None:
                shared = self._shared = _SharedStream(self._endpoint, self._stub)
            reply = await shared.call(message, timeout)
        if reply.code:
            raise ExecutorCallError(
                self._endpoint, _CODE_NAMES.get(reply.code, "UNKNOWN"), reply.message, reply.reason
            )
        return reply

    async def close(self) -> None:
        for stream in (self._lone, self._shared):
            if stream is not None:
                await stream.close()


def _deadline(endpoint: str) -> ExecutorCallError:
    return ExecutorCallError(endpoint, "DEADLINE_EXCEEDED", "Deadline Exceeded")


def _broken(endpoint: str, why: str) -> ExecutorCallError:
    return ExecutorCallError(endpoint, "UNAVAILABLE", f"the Execute session stream broke ({why})")


def _why(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details() or ''}"
    return f"{type(exc).__name__}: {exc}"


class _LoneStream:
    """A stream with one call at a time, its reply read in the caller's task.
    A cancel or timeout of that read cancels the stream (gRPC cancels a call
    whose read is cancelled): it is broken then, and the next call opens one."""

    def __init__(self, endpoint: str, stub: executor_pb2_grpc.ExecutorServiceAsyncStub) -> None:
        self._endpoint = endpoint
        self._call = stub.Session()  # type: ignore[call-arg]  # requests go by write
        self.busy = False
        self.broken: ExecutorCallError | None = None

    async def call(
        self, message: executor_pb2.SessionRequest, timeout: float | None
    ) -> executor_pb2.SessionReply:
        self.busy = True
        try:
            if timeout is None:
                reply = await self._round_trip(message)
            else:
                async with asyncio.timeout(timeout):
                    reply = await self._round_trip(message)
        except TimeoutError:
            self._end("a call's deadline cancelled it")
            raise _deadline(self._endpoint) from None
        except asyncio.CancelledError:
            broken = self._end("the runner closed it")
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this call was cancelled (its run stopped)
            raise broken from None  # the stream was (`close`), under the call
        except _STREAM_ERRORS as exc:
            raise self._end(_why(exc)) from exc
        finally:
            self.busy = False
        return reply

    def _end(self, why: str) -> ExecutorCallError:
        """Mark the stream broken (the next call opens another) and end it."""
        if self.broken is None:
            self.broken = _broken(self._endpoint, why)
        self._call.cancel()
        return self.broken

    async def _round_trip(self, message: executor_pb2.SessionRequest) -> executor_pb2.SessionReply:
        await self._call.write(message)
        while True:
            reply = await self._call.read()
            if not isinstance(reply, executor_pb2.SessionReply):  # the end of the stream
                raise self._end("the service ended it")
            # A reply to an earlier call (answered twice, or late) is dropped, as the
            # shared stream drops it: taken for this call, it would hand one run's
            # outputs and state to another.
            if reply.call_id == message.call_id:
                return reply

    async def close(self) -> None:
        self._call.cancel()


class _SharedStream:
    """A stream of calls in flight at once, its replies read by a task of its
    own and handed to their callers by `call_id`.

    Batches: once the service said it takes them (`SESSION_BATCHES` in the stream's
    initial metadata), the calls asked for while a write is under way go in
    the next write together (`SessionRequest.calls`), and its replies may come
    several in one. A write is a system call made with the GIL held (gRPC's
    send): with 500 runs at once the writes were a quarter of the runner's
    Python time, one a call."""

    def __init__(self, endpoint: str, stub: executor_pb2_grpc.ExecutorServiceAsyncStub) -> None:
        self._endpoint = endpoint
        self._call = stub.Session()  # type: ignore[call-arg]  # requests go by write
        self._pending: dict[int, asyncio.Future[executor_pb2.SessionReply]] = {}
        self._writing = asyncio.Lock()  # one write at a time on a stream
        self.broken: ExecutorCallError | None = None
        self._batches = False  # the service said it takes them
        self._cancels = False  # ... and that it stops a call on a `cancel`
        self._cancelling: set[asyncio.Task[None]] = set()  # sending a `cancel`
        self._said = asyncio.Event()  # the service's initial metadata came (or the stream ended)
        self._queued: list[executor_pb2.SessionRequest] = []  # for the next write
        self._writer: asyncio.Task[None] | None = None  # writes what is queued
        self._room = Room()  # calls in flight, as many as the service runs at once
        # A service that sends its headers only with its first reply says no
        # room in time: its calls go unbounded past that, not one at a time.
        self._unsaid = asyncio.get_running_loop().call_later(HEADERS_WAIT, self._room.limit, None)
        self._reader = asyncio.ensure_future(self._read())

    async def call(
        self, message: executor_pb2.SessionRequest, timeout: float | None
    ) -> executor_pb2.SessionReply:
        call_id = message.call_id
        future: asyncio.Future[executor_pb2.SessionReply]
        future = self._pending[call_id] = asyncio.get_running_loop().create_future()
        entered = False  # the room: the call is, or is about to be, sent
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            async with asyncio.timeout(timeout):
                waited = await self._room.enter()
                entered = True  # its slot is freed below, whatever comes
                if self.broken is not None:  # while it waited for room
                    raise self.broken
                if waited and timeout is not None:
                    told_time_left(message, timeout - (loop.time() - began), DEADLINE_GRACE)
                if self._batches:
                    self._queue(message)
                else:
                    await self._write(message)
                return await future
        except (TimeoutError, LateInLine):
            raise _deadline(self._endpoint) from None
        except asyncio.CancelledError:
            # Its future is cancelled with it, unless a reply had come.
            unanswered = future.cancelled() or not future.done()
            if entered and unanswered and all(m is not message for m in self._queued):
                self._cancel(call_id)  # it was sent: the service stops its handler
            raise
        finally:
            if entered:
                self._room.leave()
            self._pending.pop(call_id, None)
            answered = future.done() and not future.cancelled()
            if not answered and self._queued:  # given up, perhaps before it was sent
                self._queued = [m for m in self._queued if m is not message]
            if future.done() and not future.cancelled():
                # A stream that broke under this call's write failed its future
                # too; the write's error is what was raised, so mark this one
                # read (else it is logged when collected, mid-anything).
                future.exception()

    async def close(self) -> None:
        self._call.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)

    def _cancel(self, call_id: int) -> None:
        """Ask the service to stop a call given up (no reply is due then), by
        a task of its own: the caller that gave up waits for nothing."""
        task = asyncio.ensure_future(self._send_cancel(call_id))
        self._cancelling.add(task)  # the loop keeps only a weak reference
        task.add_done_callback(self._cancel_sent)

    async def _send_cancel(self, call_id: int) -> None:
        # A call given up at once may precede the metadata that says whether
        # the service takes cancels: it is sent once that is known.
        await self._said.wait()
        if not self._cancels or self.broken is not None:
            return
        cancel = executor_pb2.SessionRequest(call_id=call_id, cancel=True)
        if self._batches:
            self._queue(cancel)  # with the next write's calls
        else:
            await self._write(cancel)

    def _cancel_sent(self, task: asyncio.Task[None]) -> None:
        self._cancelling.discard(task)
        if not task.cancelled():
            task.exception()  # a stream that broke meanwhile failed its calls already

    async def _write(self, request: executor_pb2.SessionRequest) -> None:
        if self.broken is not None:
            raise self.broken
        try:
            async with self._writing:
                await self._call.write(request)
        except _STREAM_ERRORS as exc:
            self._break(_why(exc))
            raise self.broken from exc  # type: ignore[misc]

    def _queue(self, message: executor_pb2.SessionRequest) -> None:
        if self.broken is not None:
            raise self.broken
        self._queued.append(message)
        if self._writer is None:
            self._writer = asyncio.ensure_future(self._write_queued())

    async def _write_queued(self) -> None:
        """Write what is queued, in one request (as much as `batch_size` lets
        one take), until nothing is."""
        try:
            while self._queued and self.broken is None:
                count = batch_size(self._queued)
                calls, self._queued = self._queued[:count], self._queued[count:]
                request = calls[0] if len(calls) == 1 else executor_pb2.SessionRequest(calls=calls)
                async with self._writing:
                    await self._call.write(request)
        except _STREAM_ERRORS as exc:
            self._break(_why(exc))  # which fails every call waiting for a reply
        finally:
            self._writer = None

    async def _read(self) -> None:
        try:
            metadata = await self._call.initial_metadata()
            said = tuple(metadata or ())
            self._batches, self._cancels = SESSION_BATCHES in said, SESSION_CANCELS in said
            self._unsaid.cancel()
            self._room.limit(session_calls(said))
            self._said.set()
            async for reply in self._call:
                if reply.replies:
                    for one in reply.replies:
                        self._answer(one)
                else:
                    self._answer(reply)
        except grpc.aio.AioRpcError as exc:
            self._break(_why(exc))
        except asyncio.CancelledError:
            self._break("the runner closed it")
        else:
            self._break("the service ended it")

    def _answer(self, reply: executor_pb2.SessionReply) -> None:
        future = self._pending.get(reply.call_id)
        if future is not None and not future.done():
            future.set_result(reply)

    def _break(self, why: str) -> None:
        if self.broken is None:
            self.broken = _broken(self._endpoint, why)
        self._said.set()  # no cancel is sent on it now
        self._unsaid.cancel()
        self._room.limit(None)  # the calls waiting for room fail at once
        for future in self._pending.values():
            if not future.done():
                future.set_exception(self.broken)
