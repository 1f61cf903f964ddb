"""The `Executor` base class, its `@handler` decorator and `WorkflowContext`.

An executor is a class whose handlers receive messages. The type hint of a
handler's message parameter decides which payloads it takes. The SDK creates
one object per (run, executor), so attributes are per-run state; the two hooks
save and restore that state for checkpoints::

    class Counter(Executor):
        def __init__(self) -> None:
            self.total = 0

        @handler
        async def add(self, n: int, ctx: WorkflowContext) -> None:
            self.total += n
            await ctx.send_message(self.total)

        def on_checkpoint_save(self) -> dict[str, Any]:
            return {"total": self.total}

        def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
            self.total = state["total"]
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar, overload

from stepline import payloads
from stepline.v1 import executor_pb2, payload_pb2

T = TypeVar("T")
HandlerFn = Callable[[Any, Any, "WorkflowContext"], Awaitable[None]]
F = TypeVar("F", bound=Callable[..., Awaitable[None]])


@dataclass(frozen=True)
class HandlerSpec:
    """What one handler accepts and what it may send or yield."""

    name: str
    message_type: Any
    type_name: str
    sends: tuple[str, ...] = ()
    yields: tuple[str, ...] = ()


@overload
def handler(fn: F) -> F: ...
@overload
def handler(*, sends: tuple[Any, ...] = (), yields: tuple[Any, ...] = ()) -> Callable[[F], F]: ...


def handler(
    fn: F | None = None, *, sends: tuple[Any, ...] = (), yields: tuple[Any, ...] = ()
) -> F | Callable[[F], F]:
    """Mark an `async def name(self, message: T, ctx: WorkflowContext)` as a handler.

    `sends` and `yields` declare the types it sends and yields; `Describe`
    reports them so the runner can check the graph's edges at registration.
    """

    def mark(f: F) -> F:
        f.__stepline_handler__ = (  # type: ignore[attr-defined]
            tuple(payloads.type_name_of(t) for t in sends),
            tuple(payloads.type_name_of(t) for t in yields),
        )
        return f

    return mark(fn) if fn is not None else mark


@overload
def response_handler(fn: F) -> F: ...
@overload
def response_handler(
    *, sends: tuple[Any, ...] = (), yields: tuple[Any, ...] = ()
) -> Callable[[F], F]: ...


def response_handler(
    fn: F | None = None, *, sends: tuple[Any, ...] = (), yields: tuple[Any, ...] = ()
) -> F | Callable[[F], F]:
    """Mark an `async def name(self, request: Q, response: R, ctx: WorkflowContext)`
    as the handler of responses of type R to this executor's requests for input
    (`ctx.request_info`). It receives the original request too."""

    def mark(f: F) -> F:
        f.__stepline_response_handler__ = (  # type: ignore[attr-defined]
            tuple(payloads.type_name_of(t) for t in sends),
            tuple(payloads.type_name_of(t) for t in yields),
        )
        return f

    return mark(fn) if fn is not None else mark


@dataclass(frozen=True)
class ResponseHandlerSpec:
    """A response handler: the request type it was asked with, the response it takes."""

    name: str
    request_type: Any
    response_type: Any
    sends: tuple[str, ...] = ()
    yields: tuple[str, ...] = ()


class Executor:
    """Base class of executors. Subclass it and mark handlers with `@handler`."""

    _handlers: ClassVar[dict[str, HandlerSpec]] = {}
    _response_handlers: ClassVar[dict[str, ResponseHandlerSpec]] = {}
    #: The executor id in the workflow; set by the SDK when it creates the object.
    id: str = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found: dict[str, HandlerSpec] = {}
        responses: dict[str, ResponseHandlerSpec] = {}
        for klass in reversed(cls.__mro__):
            for name, member in vars(klass).items():
                response_marks = getattr(member, "__stepline_response_handler__", None)
                if response_marks is not None:
                    spec_r = _response_handler_spec(cls, name, member, response_marks)
                    responses[payloads.type_name_of(spec_r.response_type)] = spec_r
                marks = getattr(member, "__stepline_handler__", None)
                if marks is None:
                    continue
                spec = _handler_spec(cls, name, member, marks)
                other = found.get(spec.type_name)
                if other is not None and other.name != name:
                    raise TypeError(
                        f"{cls.__name__}: handlers {other.name!r} and {name!r} both take "
                        f"{spec.type_name!r}; one type, one handler"
                    )
                found[spec.type_name] = spec
        cls._handlers = found
        cls._response_handlers = responses

    def on_checkpoint_save(self) -> dict[str, Any]:
        """Return this executor's state for a checkpoint (JSON-serialisable)."""
        return {}

    def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        """Put back a state that `on_checkpoint_save` returned."""

    @classmethod
    def handler_specs(cls) -> dict[str, HandlerSpec]:
        """The handlers by the type name they accept."""
        return dict(cls._handlers)

    @classmethod
    def response_handler_specs(cls) -> dict[str, ResponseHandlerSpec]:
        """The response handlers by the response type name they accept."""
        return dict(cls._response_handlers)


def _handler_spec(
    cls: type, name: str, fn: Any, marks: tuple[tuple[str, ...], tuple[str, ...]]
) -> HandlerSpec:
    params = list(inspect.signature(fn).parameters.values())
    if len(params) != 3:
        raise TypeError(f"{cls.__name__}.{name}: a handler takes (self, message, ctx)")
    hints = typing.get_type_hints(fn)
    message_type = hints.get(params[1].name)
    if message_type is None:
        raise TypeError(f"{cls.__name__}.{name}: annotate the message parameter with its type")
    if typing.get_origin(message_type) is list:
        type_name = BATCH_TYPE
    elif message_type is payload_pb2.Payload:
        type_name = "*"
    else:
        type_name = payloads.type_name_of(message_type)
    return HandlerSpec(name, message_type, type_name, marks[0], marks[1])


BATCH_TYPE = "stepline.v1.MessageBatch"


def _response_handler_spec(
    cls: type, name: str, fn: Any, marks: tuple[tuple[str, ...], tuple[str, ...]]
) -> ResponseHandlerSpec:
    params = list(inspect.signature(fn).parameters.values())
    hints = typing.get_type_hints(fn)
    if len(params) != 4 or params[1].name not in hints or params[2].name not in hints:
        raise TypeError(
            f"{cls.__name__}.{name}: a response handler takes (self, request: Q, response: R, "
            "ctx), with Q and R annotated"
        )
    return ResponseHandlerSpec(name, hints[params[1].name], hints[params[2].name], *marks)


@dataclass
class WorkflowContext:
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

    async def send_message(self, message: Any, target_id: str | None = None) -> None:
        """Send a message along the workflow's edges, or to one connected target."""
        self.result.sent.add(
            source_id=self.executor_id, target_id=target_id or "", payload=payloads.encode(message)
        )

    async def yield_output(self, value: Any) -> None:
        """Yield a run output; it appears once in the run's event log."""
        self.result.outputs.append(payloads.encode(value))

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

    async def request_info(self, data: Any, response_type: Any) -> None:
        """Ask for outside input (a person's approval, another system's answer).

        The run waits for the answer, which a `@response_handler` for
        `response_type` receives, with `data`, in a later superstep.
        """
        self.result.requests.add(
            data=payloads.encode(data), response_type=payloads.type_name_of(response_type)
        )

    async def delete_shared_state(self, key: str) -> None:
        """Remove `key` from the next superstep on."""
        self.result.shared_state_writes.add(key=key, delete=True)
