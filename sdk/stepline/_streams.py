"""The runner's event streams as the client reads them: one run's events,
reconnecting after a runner restart without a gap or a repeat, and every
run's live events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Self

import grpc

from stepline.errors import SteplineError
from stepline.v1 import events_pb2, runner_pb2, runner_pb2_grpc

Metadata = tuple[tuple[str, str], ...]
Errors = Callable[[grpc.aio.AioRpcError], SteplineError]
"""What turns a failed call into the SDK's error (the client's `Dialled.error`)."""
RunsCall = grpc.aio.UnaryStreamCall[runner_pb2.WatchRunsRequest, runner_pb2.WatchRunsResponse]


async def run_events(
    channel: grpc.aio.Channel,
    stub: runner_pb2_grpc.RunnerServiceAsyncStub,
    metadata: Metadata,
    request: runner_pb2.WatchRunRequest,
    reconnect_timeout: float,
    errors: Errors,
) -> AsyncGenerator[events_pb2.Event, None]:
    """`request`'s events; on UNAVAILABLE, wait for the runner up to
    `reconnect_timeout` seconds and ask again after the last event delivered."""
    while True:
        stream = stub.WatchRun(request, metadata=metadata)
        try:
            async for response in stream:
                events = response.events
                for event in events:
                    yield event
                # Only a read of the stream fails, so never within a response.
                if events:
                    request.after_sequence = events[-1].sequence
            return
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE:
                raise errors(exc) from exc
            await _reconnect(channel, exc, errors, reconnect_timeout)
        finally:
            stream.cancel()


class LiveEvents(AsyncIterator[events_pb2.Event]):
    """Live events of every run (or of one workflow's runs), what
    `RunnerClient.watch_all` returns: iterate it for the events, errors
    mapped to `SteplineError`. The stream starts when first used (iterated,
    `subscribed()`, or entered with `async with`), not when made; leaving
    `async with`, or `aclose()`, ends it::

        async with client.watch_all() as events:
            await events.subscribed()
            async for event in events:
                ...

    The stream is live-only: it holds what is committed after the runner
    subscribed it, nothing from before. `await subscribed()` returns once it
    has, so that a run started after that is seen from its first event.
    """

    def __init__(
        self,
        stub: runner_pb2_grpc.RunnerServiceAsyncStub,
        metadata: Metadata,
        request: runner_pb2.WatchRunsRequest,
        errors: Errors,
    ) -> None:
        self._stub, self._metadata, self._request = stub, metadata, request
        self._errors = errors
        self._stream: RunsCall | None = None
        self._events: AsyncGenerator[events_pb2.Event, None] | None = None

    def _started(self) -> AsyncGenerator[events_pb2.Event, None]:
        if self._events is None:
            self._stream = self._stub.WatchRuns(self._request, metadata=self._metadata)
            # Not a method: a generator holding `self` would be a cycle, and a
            # stream left unclosed (a `break` out of `async for`) would stay
            # open until a cyclic collection, not be cancelled once dropped.
            self._events = _live(self._stream, self._errors)
        return self._events

    async def subscribed(self) -> None:
        """Start the stream if it has not started, and return once the runner
        has subscribed it (or the stream ended: the next read raises why). A
        runner older than this SDK says so with the first event only."""
        self._started()
        if self._stream is None:  # closed before it started
            return
        try:
            await self._stream.initial_metadata()
        except grpc.aio.AioRpcError as exc:
            raise self._errors(exc) from exc

    def __aiter__(self) -> AsyncIterator[events_pb2.Event]:
        # The stream's own generator: one step less per event in `async for`.
        return self._started()

    async def __anext__(self) -> events_pb2.Event:
        return await anext(self._started())

    async def __aenter__(self) -> Self:
        self._started()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """End the stream (the runner drops the subscription); one never
        started is not started."""
        if self._events is None:
            self._events = _nothing()
        await self._events.aclose()
        if self._stream is not None:
            self._stream.cancel()


async def _live(stream: RunsCall, errors: Errors) -> AsyncGenerator[events_pb2.Event, None]:
    try:
        async for response in stream:
            for event in response.events:
                yield event
    except grpc.aio.AioRpcError as exc:
        raise errors(exc) from exc
    finally:
        stream.cancel()


async def _nothing() -> AsyncGenerator[events_pb2.Event, None]:
    return
    yield  # an async generator that ends at once


async def _reconnect(
    channel: grpc.aio.Channel, error: grpc.aio.AioRpcError, errors: Errors, timeout: float
) -> None:
    """Wait (on the channel, not a clock) until the runner answers again;
    past `timeout`, raise why the stream broke (`error`)."""
    try:
        async with asyncio.timeout(timeout):
            await channel.channel_ready()
    except TimeoutError:
        raise errors(error) from error
