"""A warning, at start-up, for executor classes whose state a restart would lose.

Attributes an executor changes while it handles messages are its state; only
`on_checkpoint_save` / `on_checkpoint_restore` carry them across a restart of
the service. A class that changes attributes outside `__init__` and defines
neither hook works until the first restart, then silently starts from
scratch, so the SDK says so once per class. It reads the methods' source:
an assignment to `self.x` (plain, augmented, item or deletion) or a call of
a mutating method on it (`self.x.append(...)`) outside `__init__` counts.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import warnings

from stepline.executor import Executor

_MUTATORS = frozenset(
    {"append", "extend", "insert", "add", "update", "pop", "popitem", "remove", "discard"}
    | {"clear", "setdefault", "appendleft", "extendleft", "sort", "reverse"}
)
_warned: set[type[Executor]] = set()


class StateLossWarning(UserWarning):
    """An executor class keeps state in attributes but cannot checkpoint it."""


def warn_if_state_is_lost(executor_type: str, cls: type[Executor]) -> None:
    """Warn (once per class) if `cls` changes attributes but defines neither hook."""
    if cls in _warned or _has_hooks(cls):
        return
    changed = changed_attributes(cls)
    if not changed:
        return
    _warned.add(cls)
    warnings.warn(
        f"executor type {executor_type!r} ({cls.__qualname__}) changes instance attributes "
        f"({', '.join(sorted(changed))}) but defines neither on_checkpoint_save nor "
        "on_checkpoint_restore: its state is lost when the service restarts",
        StateLossWarning,
        stacklevel=2,
    )


def _has_hooks(cls: type[Executor]) -> bool:
    return (
        cls.on_checkpoint_save is not Executor.on_checkpoint_save
        or cls.on_checkpoint_restore is not Executor.on_checkpoint_restore
    )


def changed_attributes(cls: type[Executor]) -> set[str]:
    """Attributes of `self` that `cls`'s methods other than `__init__` change."""
    changed: set[str] = set()
    for klass in cls.__mro__:
        if not issubclass(klass, Executor) or klass is Executor:
            continue
        for name, member in vars(klass).items():
            if name != "__init__" and inspect.isfunction(member):
                changed |= _changed_in(member)
    return changed - {"id"}


def _changed_in(fn: object) -> set[str]:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))  # type: ignore[arg-type]
    except (OSError, TypeError, SyntaxError):  # no source to read (built in a REPL, exec)
        return set()
    function = tree.body[0]
    if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef) or not function.args.args:
        return set()
    me = function.args.args[0].arg
    changed: set[str] = set()
    for node in ast.walk(function):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign | ast.Delete):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _MUTATORS
        ):
            targets = [node.func.value]
        for target in targets:
            changed |= _attributes_of(me, target)
    return changed


def _attributes_of(me: str, target: ast.expr) -> set[str]:
    """`x` for `self.x`, `self.x[...]` and each such element of a tuple target."""
    if isinstance(target, ast.Tuple | ast.List):
        return {a for element in target.elts for a in _attributes_of(me, element)}
    if isinstance(target, ast.Subscript):
        target = target.value
    if (
        isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Name)
        and target.value.id == me
    ):
        return {target.attr}
    return set()
