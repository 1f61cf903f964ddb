"""The `Executor` base class and its `@handler` and `@response_handler` decorators.

An executor is a class whose handlers receive messages. The type hint of a
handler's message parameter decides which payloads it takes; its
`WorkflowContext[T_Out, T_W_Out]` hint what it sends and yields. The SDK
creates one object per (run, executor), so attributes are per-run state; the
two hooks (plain or `async def`) save and restore that state for checkpoints::

    class Counter(Executor):
        def __init__(self, id: str) -> None:
            super().__init__(id=id)
            self.total = 0

        @handler
        async def add(self, n: int, ctx: WorkflowContext[int]) -> None:
            self.total += n
            await ctx.send_message(self.total)

        async def on_checkpoint_save(self) -> dict[str, Any]:
            return {"total": self.total}

        async def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
            self.total = state["total"]
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, overload

from stepline import payloads
from stepline.context import WorkflowContext, declared_types
from stepline.v1 import payload_pb2

__all__ = [
    "BATCH_TYPE",
    "Executor",
    "HandlerSpec",
    "ResponseHandlerSpec",
    "WorkflowContext",
    "handler",
    "response_handler",
]

F = TypeVar("F", bound=Callable[..., Awaitable[None]])
# What the decorators record: the sends= and yields= given (None: not given).
_Marks = tuple[tuple[Any, ...] | None, tuple[Any, ...] | None]

BATCH_TYPE = "stepline.v1.MessageBatch"


@dataclass(frozen=True)
class HandlerSpec:
    """What one handler accepts and what it may send or yield."""

    name: str
    message_type: Any
    type_name: str
    sends: tuple[str, ...] = ()
    yields: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResponseHandlerSpec:
    """A response handler: the request type it was asked with, the response it takes."""

    name: str
    request_type: Any
    response_type: Any
    sends: tuple[str, ...] = ()
    yields: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        """(request type name, response type name): what it is chosen by."""
        return _type_name(self.request_type), payloads.type_name_of(self.response_type)


@overload
def handler(fn: F) -> F: ...
@overload
def handler(
    *, sends: tuple[Any, ...] | None = None, yields: tuple[Any, ...] | None = None
) -> Callable[[F], F]: ...


def handler(
    fn: F | None = None,
    *,
    sends: tuple[Any, ...] | None = None,
    yields: tuple[Any, ...] | None = None,
) -> F | Callable[[F], F]:
    """Mark an `async def name(self, message: T, ctx: WorkflowContext[...])` as a handler.

    `sends` and `yields` declare the types it sends and yields; each left out
    is read from the `WorkflowContext[T_Out, T_W_Out]` annotation, if any.
    `Describe` reports them so the runner can check the graph's edges at
    registration.
    """

    def mark(f: F) -> F:
        f.__stepline_handler__ = (sends, yields)  # type: ignore[attr-defined]
        return f

    return mark(fn) if fn is not None else mark


@overload
def response_handler(fn: F) -> F: ...
@overload
def response_handler(
    *, sends: tuple[Any, ...] | None = None, yields: tuple[Any, ...] | None = None
) -> Callable[[F], F]: ...


def response_handler(
    fn: F | None = None,
    *,
    sends: tuple[Any, ...] | None = None,
    yields: tuple[Any, ...] | None = None,
) -> F | Callable[[F], F]:
    """Mark an `async def name(self, request: Q, response: R, ctx: WorkflowContext[...])`
    as the handler of responses of type R to this executor's requests of type
    Q (`ctx.request_info`). It receives the original request too. One
    handler per (Q, R); `sends` and `yields` as for `@handler`."""

    def mark(f: F) -> F:
        f.__stepline_response_handler__ = (sends, yields)  # type: ignore[attr-defined]
        return f

    return mark(fn) if fn is not None else mark


class Executor:
    """Base class of executors. Subclass it and mark handlers with `@handler`.

    As in Agent Framework a constructor may take the executor id
    (`super().__init__(id=id)`); the SDK passes it when it creates the object.
    """

    _handlers: ClassVar[dict[str, HandlerSpec]] = {}
    _response_handlers: ClassVar[dict[tuple[str, str], ResponseHandlerSpec]] = {}
    #: The executor id in the workflow; set by the SDK when it creates the object.
    id: str = ""

    def __init__(self, id: str = "", **kwargs: Any) -> None:
        """`id`: the executor id. Other keywords (Agent Framework's `type=`
        and the like) are accepted and ignored."""
        self.id = id

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found: dict[str, HandlerSpec] = {}
        responses: dict[tuple[str, str], ResponseHandlerSpec] = {}
        for klass in reversed(cls.__mro__):
            for name, member in vars(klass).items():
                response_marks = getattr(member, "__stepline_response_handler__", None)
                if response_marks is not None:
                    answer = _response_handler_spec(cls, name, member, response_marks)
                    taken = responses.get(answer.key)
                    if taken is not None and taken.name != name:
                        raise TypeError(
                            f"{cls.__name__}: response handlers {taken.name!r} and {name!r} both "
                            f"take (request {answer.key[0]!r}, response {answer.key[1]!r}); "
                            "one pair, one response handler"
                        )
                    responses[answer.key] = answer
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

    def on_checkpoint_save(self) -> dict[str, Any] | Awaitable[dict[str, Any]]:
        """Return this executor's state for a checkpoint (JSON-serialisable).

        Override it as a plain method or as `async def`."""
        return {}

    def on_checkpoint_restore(self, state: dict[str, Any]) -> Awaitable[None] | None:
        """Put back a state that `on_checkpoint_save` returned (plain or `async def`)."""
        return None

    @classmethod
    def handler_specs(cls) -> dict[str, HandlerSpec]:
        """The handlers by the type name they accept."""
        return dict(cls._handlers)

    @classmethod
    def response_handler_specs(cls) -> dict[tuple[str, str], ResponseHandlerSpec]:
        """The response handlers by (request type name, response type name)."""
        return dict(cls._response_handlers)


def _type_name(tp: Any) -> str:
    """The type name a parameter annotated `tp` takes ("*": any payload)."""
    if typing.get_origin(tp) is list:
        return BATCH_TYPE
    if tp is payload_pb2.Payload:
        return "*"
    return payloads.type_name_of(tp)


def _declared(where: str, ctx_hint: Any, marks: _Marks) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The type names sent and yielded: as given, else as the context hint says."""
    try:
        inferred = declared_types(ctx_hint) or ((), ())
        sends, yields = (m if m is not None else i for m, i in zip(marks, inferred, strict=True))
        return (
            tuple(payloads.type_name_of(t) for t in sends),
            tuple(payloads.type_name_of(t) for t in yields),
        )
    except (TypeError, payloads.PayloadError) as exc:
        raise TypeError(f"{where}: {exc}") from None


def _hints(where: str, fn: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except (NameError, TypeError) as exc:  # an undefined name, WorkflowContext[a, b, c]
        raise TypeError(f"{where}: cannot read its annotations: {exc}") from None


def _handler_spec(cls: type, name: str, fn: Any, marks: _Marks) -> HandlerSpec:
    where = f"{cls.__name__}.{name}"
    params = list(inspect.signature(fn).parameters.values())
    if len(params) != 3:
        raise TypeError(f"{where}: a handler takes (self, message, ctx)")
    hints = _hints(where, fn)
    message_type = hints.get(params[1].name)
    if message_type is None:
        raise TypeError(f"{where}: annotate the message parameter with its type")
    sends, yields = _declared(where, hints.get(params[2].name), marks)
    return HandlerSpec(name, message_type, _type_name(message_type), sends, yields)


def _response_handler_spec(cls: type, name: str, fn: Any, marks: _Marks) -> ResponseHandlerSpec:
    where = f"{cls.__name__}.{name}"
    params = list(inspect.signature(fn).parameters.values())
    hints = _hints(where, fn)
    if len(params) != 4 or params[1].name not in hints or params[2].name not in hints:
        raise TypeError(
            f"{where}: a response handler takes (self, request: Q, response: R, "
            "ctx), with Q and R annotated"
        )
    sends, yields = _declared(where, hints.get(params[3].name), marks)
    return ResponseHandlerSpec(name, hints[params[1].name], hints[params[2].name], sends, yields)
