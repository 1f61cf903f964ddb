"""`WorkflowContext[T_Out, T_W_Out]`: what a handler can do besides changing its state.

As in Agent Framework, the type parameters say what a handler sends
(`T_Out`) and yields (`T_W_Out`)::

    async def split(self, text: str, ctx: WorkflowContext[int, str]) -> None: ...

sends `int` and yields `str`; `WorkflowContext[int]` sends `int` and yields
nothing declared; a bare `WorkflowContext` declares nothing. `@handler`
reads them when it is given no `sends=`/`yields=`; `Describe` reports them
and the runner checks edges against them when a workflow is registered.
Unions declare each member; `Any` and `Never` declare nothing.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Never

from google.protobuf.timestamp_pb2 import Timestamp
from typing_extensions import TypeVar

from stepline import payloads
from stepline.v1 import executor_pb2, payload_pb2

T = TypeVar("T")
# Defaults of Any: a bare `WorkflowContext` type-checks any send and yield.
T_Out = TypeVar("T_Out", default=Any)
T_W_Out = TypeVar("T_W_Out", default=Any)

MAX_TIMER_SECONDS = 366 * 86400.0
_UNDECLARED: tuple[object, ...] = (Any, Never, typing.NoReturn, payload_pb2.Payload)


def declared_types(annotation: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]] | None:
    """The (sent, yielded) types a `WorkflowContext[...]` annotation declares,
    or None when the annotation is not a subscripted `WorkflowContext`."""
    if typing.get_origin(annotation) is not WorkflowContext:
        return None
    sent, yielded = (*typing.get_args(annotation), Any, Any)[:2]
    return _members(sent), _members(yielded)


def _members(tp: Any) -> tuple[Any, ...]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return tuple(m for arg in typing.get_args(tp) for m in _members(arg))
    return () if any(tp is u for u in _UNDECLARED) else (tp,)


@dataclass
class WorkflowContext(Generic[T_Out, T_W_Out]):
    """What a handler can do besides changing its own state.

    Everything it records is returned to the runner when the superstep's
    `Execute` call ends: messages are delivered in the next superstep, shared
    state writes become visible then too.
    """

    run_id: str
    executor_id: str
    superstep: int
    attempt: int
    shared_state: dict[str, payload_pb2.Payload]
    result: executor_pb2.ExecuteResponse = field(default_factory=executor_pb2.ExecuteResponse)
    #: (request type name, response type name) pairs the executor has response
    #: handlers for; `request_info` refuses any other pair.
    answerable: Collection[tuple[str, str]] = frozenset()

    async def send_message(
        self,
        message: T_Out,
        target_id: str | None = None,
        *,
        delay: timedelta | float | None = None,
        at: datetime | None = None,
    ) -> None:
        """Send a message along the workflow's edges, or to one connected target.

        With `delay` (a timedelta or seconds) or `at` (an aware datetime), it
        is a durable timer: the runner keeps it in the run's checkpoint and
        routes it once due, across restarts; the run waits meanwhile if
        nothing else is left to do. At most 366 days ahead."""
        payload = payloads.encode(message)
        if delay is not None and at is not None:
            raise ValueError("send_message takes delay or at, not both")
        seconds = 0.0
        if delay is not None:
            seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
            if not 0 <= seconds <= MAX_TIMER_SECONDS:
                raise ValueError(f"delay is {seconds:g}s: it must be from 0 to 366 days")
        elif at is not None:
            if at.tzinfo is None:
                raise ValueError("at must be an aware datetime (with a time zone)")
            deliver_at = Timestamp()
            deliver_at.FromDatetime(at.astimezone(UTC))
        # Made in place in the result, once checked: a refused send adds nothing.
        sent = self.result.sent.add(
            source_id=self.executor_id, target_id=target_id or "", payload=payload
        )
        if delay is not None:
            sent.delay.FromNanoseconds(round(seconds * 1e9))
        elif at is not None:
            sent.deliver_at.CopyFrom(deliver_at)

    async def yield_output(self, output: T_W_Out) -> None:
        """Yield a run output; it appears once in the run's event log."""
        self.result.outputs.append(payloads.encode(output))

    async def add_event(self, name: str, data: Any = None) -> None:
        """Add a custom event to the run's event log."""
        event = self.result.events.add(name=name)
        if data is not None:
            event.data.CopyFrom(payloads.encode(data))

    def get_shared_state(self, key: str, tp: type[T]) -> T | None:
        """The value of `key` as of the start of this superstep, or None."""
        payload = self.shared_state.get(key)
        return None if payload is None else payloads.decode(payload, tp)

    async def set_shared_state(self, key: str, value: Any) -> None:
        """Write `key`; other executors see it from the next superstep on."""
        self.result.shared_state_writes.add(key=key, value=payloads.encode(value))

    async def delete_shared_state(self, key: str) -> None:
        """Remove `key` from the next superstep on."""
        self.result.shared_state_writes.add(key=key, delete=True)

    async def request_info(
        self, request_data: Any, response_type: Any, *, request_id: str | None = None
    ) -> None:
        """Ask for outside input (a person's approval, another system's answer).

        The run waits for the answer, which the `@response_handler` for
        (type of `request_data`, `response_type`) receives, with
        `request_data`, in a later superstep. Without such a handler this
        raises `TypeError` at once: the answer would have nowhere to go.

        `request_id` must be unique within the run; left out, the runner
        chooses one (clients find it with `list_pending_requests`).
        """
        data = payloads.encode(request_data)
        pair = (data.type_name, payloads.type_name_of(response_type))
        if pair not in self.answerable and ("*", pair[1]) not in self.answerable:
            takes = ", ".join(f"({q}, {r})" for q, r in sorted(self.answerable)) or "none"
            raise TypeError(
                f"executor {self.executor_id!r} asked for a response of type {pair[1]!r} to a "
                f"request of type {pair[0]!r}, but no @response_handler takes that pair "
                f"(request, response); its response handlers take: {takes}"
            )
        self.result.requests.add(request_id=request_id or "", data=data, response_type=pair[1])
