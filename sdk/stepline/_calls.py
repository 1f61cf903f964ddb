"""What the call mixins of `RunnerClient` (`_checkpoints`, `_schedules`)
stand on: its stub, and its two seams, which `RunnerClient` provides."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from stepline.v1 import runner_pb2_grpc

Req = TypeVar("Req")
Resp = TypeVar("Resp")
T = TypeVar("T")
# One page of a list: its items and the token of the next page ("" after the last).
Page = tuple[Sequence[T], str]


class ClientCalls:
    """The stub, `_call` (every unary call) and `_pages` (every list)."""

    _stub: runner_pb2_grpc.RunnerServiceAsyncStub

    async def _call(
        self, method: grpc.aio.UnaryUnaryMultiCallable[Req, Resp], request: Req
    ) -> Resp:
        raise NotImplementedError

    def _pages(self, page: Callable[[str], Awaitable[Page[T]]]) -> AsyncIterator[T]:
        raise NotImplementedError


def timestamp(moment: datetime | None) -> Timestamp | None:
    """`moment` as a protobuf Timestamp (naive means UTC); None stays None."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    ts = Timestamp()
    ts.FromDatetime(moment)
    return ts
