"""Every public name of the SDK (`stepline.__all__`) has a docstring, and so
does every public method or property of its classes, inherited ones included."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import stepline


def undocumented() -> Iterator[str]:
    for name in stepline.__all__:
        obj = getattr(stepline, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        if not inspect.getdoc(obj):
            yield name
        if not inspect.isclass(obj):
            continue
        for member in dir(obj):
            if member.startswith("_"):
                continue
            raw = inspect.getattr_static(obj, member)
            if isinstance(raw, staticmethod | classmethod):
                raw = raw.__func__
            function = raw.fget if isinstance(raw, property) else raw
            module = getattr(function, "__module__", "") or ""
            if not (inspect.isfunction(function) and module.startswith("stepline")):
                continue  # data, or a name from outside the SDK (Exception's, say)
            if not function.__doc__:
                yield f"{name}.{member}"


def test_public_sdk_names_have_docstrings() -> None:
    assert list(undocumented()) == []
