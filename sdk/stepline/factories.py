"""How a service makes executor objects from what it was given to host.

Each executor type is hosted as an `Executor` subclass or a factory of one:

- the class itself, whose constructor takes the executor id (`id`, as in
  Agent Framework, or one positional parameter) or nothing;
- `functools.partial(TheClass, more=...)` for constructors that need more;
- a function taking the id or nothing, such as Agent Framework's
  `lambda: Upper(id="upper")` (the id it sets is replaced by the node's).

The SDK reads handlers from the class, so it calls a factory only to make the
object of a (run, executor): once when the pair first gets work, and again
when a checkpoint is restored into it. Only a function whose return type is
not annotated is also called once at start-up, to learn the class it makes.
What cannot work is refused when the service starts, in one line naming the
executor type (`ExecutorFactoryError`).
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stepline.executor import Executor

ExecutorFactory = Callable[..., Executor]

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
_NOT_BY_NAME = (*_VARIADIC, inspect.Parameter.POSITIONAL_ONLY)


class ExecutorFactoryError(ValueError):
    """What a service was given to host cannot make executor objects."""


@dataclass(frozen=True)
class Maker:
    """Makes the objects of one executor type."""

    executor_type: str
    executor_class: type[Executor]
    _make: Callable[[str], Any]

    def __call__(self, executor_id: str) -> Executor:
        executor = self._make(executor_id)
        if not isinstance(executor, self.executor_class):
            raise TypeError(
                f"the factory of executor type {self.executor_type!r} returned "
                f"{type(executor).__name__}, not a {self.executor_class.__name__}"
            )
        executor.id = executor_id
        return executor


def maker(executor_type: str, factory: type[Executor] | ExecutorFactory) -> Maker:
    """A `Maker` for `factory`, or `ExecutorFactoryError` saying why it cannot be one."""
    label = _label(factory)
    where = f"executor type {executor_type!r} ({label})"
    if not callable(factory):
        raise ExecutorFactoryError(f"{where}: not an Executor class or a factory of one")
    call = _caller(where, label, factory)
    return Maker(executor_type, _executor_class(where, factory, call, executor_type), call)


def _executor_class(
    where: str, factory: Callable[..., Any], call: Callable[[str], Any], executor_type: str
) -> type[Executor]:
    inner: Any = factory
    while isinstance(inner, functools.partial):
        inner = inner.func
    made = inner if isinstance(inner, type) else _return_hint(inner)
    if isinstance(made, type) and issubclass(made, Executor):
        return made
    if isinstance(inner, type):
        raise ExecutorFactoryError(f"{where}: {inner.__name__} is not an Executor subclass")
    return _probe(where, call, executor_type)


def _probe(where: str, call: Callable[[str], Any], executor_type: str) -> type[Executor]:
    """The class a factory of unannotated return type makes (Agent Framework's
    `lambda: Upper(id="upper")`), from one object made and dropped at start-up."""
    try:
        made = call(executor_type)
    except Exception as exc:
        raise ExecutorFactoryError(
            f"{where}: calling it (to learn which Executor class it makes) raised "
            f"{type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(made, Executor):
        raise ExecutorFactoryError(
            f"{where}: it returned an object of type {type(made).__name__}, not an Executor"
        )
    return type(made)


def _return_hint(fn: Any) -> Any:
    try:
        return typing.get_type_hints(fn).get("return")
    except Exception:  # an unresolvable annotation is as good as none
        return None


def _caller(where: str, label: str, factory: Callable[..., Any]) -> Callable[[str], Any]:
    """Call `factory` with the executor id if it takes one, else with nothing."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return lambda executor_id: factory()
    takes_id = params.get("id")
    if takes_id is not None and takes_id.kind not in _NOT_BY_NAME:
        rest = _required(p for name, p in params.items() if name != "id")
        if rest:
            raise _needs(where, label, rest)
        return lambda executor_id: factory(id=executor_id)
    required = _required(params.values())
    if not required:
        return lambda executor_id: factory()
    first = next(iter(params.values()))
    if len(required) == 1 and required[0] is first and first.kind in _POSITIONAL:
        return lambda executor_id: factory(executor_id)
    raise _needs(where, label, required)


def _required(params: typing.Iterable[inspect.Parameter]) -> list[inspect.Parameter]:
    return [p for p in params if p.default is p.empty and p.kind not in _VARIADIC]


def _needs(where: str, label: str, required: list[inspect.Parameter]) -> ExecutorFactoryError:
    names = ", ".join(p.name for p in required)
    return ExecutorFactoryError(
        f"{where}: it needs {names}, which the SDK cannot supply (it passes only the executor "
        f"id, as `id` or as the one positional argument); bind them with "
        f"functools.partial({label.removeprefix('partial(').rstrip(')')}, "
        f"{required[0].name}=...)"
    )


def _label(factory: Any) -> str:
    inner = factory
    while isinstance(inner, functools.partial):
        inner = inner.func
    name = getattr(inner, "__qualname__", None) or type(inner).__name__
    return f"partial({name})" if inner is not factory else str(name)
