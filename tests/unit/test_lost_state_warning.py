"""The SDK warns once, at start-up, about an executor class that keeps state in
attributes but defines neither checkpoint hook."""

from __future__ import annotations

import warnings
from functools import partial
from typing import Any

import pytest

from stepline.executor import Executor, WorkflowContext, handler
from stepline.host import ExecutorHost
from stepline.lost_state import StateLossWarning, changed_attributes


class Forgetful(Executor):
    def __init__(self) -> None:
        self.total = 0
        self.seen: list[int] = []

    @handler
    async def add(self, n: int, ctx: WorkflowContext) -> None:
        self.total += n
        self.seen.append(n)


class Keeper(Forgetful):
    async def on_checkpoint_save(self) -> dict[str, Any]:
        return {"total": self.total, "seen": self.seen}


class Configured(Executor):
    """Attributes set only in the constructor are configuration, made again
    from the same arguments after a restart."""

    def __init__(self, id: str, factor: int) -> None:
        super().__init__(id=id)
        self.factor = factor

    @handler
    async def scale(self, n: int, ctx: WorkflowContext) -> None:
        await ctx.send_message(n * self.factor)


class Sneaky(Executor):
    @handler
    async def add(self, n: int, ctx: WorkflowContext) -> None:
        self._remember(n)

    def _remember(self, n: int) -> None:
        self.last, self.by_n[n] = n, True  # type: ignore[attr-defined]


def test_the_warning_names_the_type_the_class_and_the_attributes() -> None:
    with pytest.warns(StateLossWarning) as caught:
        ExecutorHost({"tally": Forgetful})

    assert [str(w.message) for w in caught] == [
        "executor type 'tally' (Forgetful) changes instance attributes (seen, total) but "
        "defines neither on_checkpoint_save nor on_checkpoint_restore: its state is lost "
        "when the service restarts"
    ]


def test_it_warns_once_per_class() -> None:
    class Again(Forgetful):
        pass

    with pytest.warns(StateLossWarning) as caught:
        ExecutorHost({"a": Again, "b": Again})
        ExecutorHost({"c": Again})

    assert len(caught) == 1


@pytest.mark.parametrize("factory", [Keeper, partial(Configured, factor=2)])
def test_no_warning_with_a_hook_or_for_configuration(factory: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", StateLossWarning)
        ExecutorHost({"t": factory})


def test_changes_in_helper_methods_count() -> None:
    assert changed_attributes(Sneaky) == {"last", "by_n"}
    assert changed_attributes(Forgetful) == {"total", "seen"}
