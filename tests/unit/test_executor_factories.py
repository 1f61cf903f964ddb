"""Executor types hosted as classes that take their id, `functools.partial`s
for more arguments, or annotated functions; made once per (run, executor);
a factory that cannot work refused at start-up in one line."""

from __future__ import annotations

from collections import Counter
from functools import partial
from typing import Any, Never

import pytest

from stepline import payloads
from stepline.executor import Executor, WorkflowContext, handler
from stepline.factories import ExecutorFactoryError, maker
from stepline.host import ExecutorHost
from stepline.v1 import executor_pb2

made: Counter[tuple[str, str]] = Counter()  # (class, id) -> objects made


class Named(Executor):
    """AF's way: the id through the base constructor."""

    def __init__(self, id: str) -> None:
        super().__init__(id=id)
        self.seen_id = id
        made["Named", id] += 1

    @handler
    async def hello(self, n: int, ctx: WorkflowContext[Never, str]) -> None:
        await ctx.yield_output(f"{self.seen_id}:{n}")


class Judge(Executor):
    """An argument before the id, as in `Judge(target)`."""

    def __init__(self, target: int, id: str = "judge") -> None:
        super().__init__(id=id)
        self.target = target

    @handler
    async def judge(self, n: int, ctx: WorkflowContext[Never, str]) -> None:
        await ctx.yield_output(f"{self.id}:{n == self.target}")


class Plain(Executor):
    @handler
    async def hello(self, n: int, ctx: WorkflowContext[Never, str]) -> None:
        await ctx.yield_output(f"{self.id}:{n}")


class Positional(Executor):
    def __init__(self, name: str, /) -> None:
        self.name = name

    @handler
    async def hello(self, n: int, ctx: WorkflowContext[Never, str]) -> None:
        await ctx.yield_output(f"{self.name}:{n}")


def make_plain(id: str) -> Plain:
    return Plain(id=id)


async def said(host: ExecutorHost, executor_type: str, run_id: str = "r", n: int = 1) -> list[Any]:
    request = executor_pb2.ExecuteRequest(
        run_id=run_id, executor_id="node", executor_type=executor_type, superstep=1
    )
    request.messages.add(payload=payloads.encode(n))
    response = await host.execute(request)
    assert not response.HasField("error"), response.error.message
    return [payloads.json_value(o) for o in response.outputs]


@pytest.mark.parametrize(
    ("factory", "output"),
    [
        (Named, "node:30"),  # the id, by name
        (partial(Judge, 30), "node:True"),  # more arguments bound, the id by name
        (partial(Judge, target=29), "node:False"),
        (Plain, "node:30"),  # no constructor of its own: the base class's takes the id
        (Positional, "node:30"),  # the one positional parameter
        (make_plain, "node:30"),  # a function annotated to return the class
        (lambda: Plain(id="plain"), "node:30"),  # AF's register_executors lambda
    ],
)
async def test_a_factory_gets_the_executor_id(factory: Any, output: str) -> None:
    assert await said(ExecutorHost({"t": factory}), "t", n=30) == [output]


async def test_a_factory_is_called_once_per_run_and_executor_never_at_start_up() -> None:
    made.clear()
    host = ExecutorHost({"named": Named})
    assert not made  # the handlers come from the class

    for run_id in ("r1", "r1", "r2", "r1"):
        await said(host, "named", run_id)

    assert made == {("Named", "node"): 2}  # one object for r1, one for r2
    assert host.object_count == 2


async def test_an_unannotated_factory_is_called_once_at_start_up_to_learn_its_class() -> None:
    made.clear()
    host = ExecutorHost({"named": lambda: Named(id="named")})
    assert made == {("Named", "named"): 1}

    await said(host, "named", "r1")
    await said(host, "named", "r1")

    assert made == {("Named", "named"): 2}


class NeedsTwo(Executor):
    def __init__(self, id: str, target: int, rounds: int) -> None: ...

    @handler
    async def h(self, n: int, ctx: WorkflowContext) -> None: ...


class NotAnExecutor:
    pass


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (
            NeedsTwo,
            "executor type 'bad' (NeedsTwo): it needs target, rounds, which the SDK cannot "
            "supply (it passes only the executor id, as `id` or as the one positional "
            "argument); bind them with functools.partial(NeedsTwo, target=...)",
        ),
        (
            partial(NeedsTwo, rounds=3),
            "executor type 'bad' (partial(NeedsTwo)): it needs target, which the SDK cannot "
            "supply (it passes only the executor id, as `id` or as the one positional "
            "argument); bind them with functools.partial(NeedsTwo, target=...)",
        ),
        (NotAnExecutor, "executor type 'bad' (NotAnExecutor): NotAnExecutor is not an Executor"),
        (
            lambda: 42,
            "executor type 'bad' (<lambda>): it returned an object of type int, not an Executor",
        ),
        (
            lambda: int("x"),
            "executor type 'bad' (<lambda>): calling it (to learn which Executor class it "
            "makes) raised ValueError: invalid literal",
        ),
        (42, "executor type 'bad' (int): not an Executor class or a factory of one"),
    ],
)
def test_a_factory_that_cannot_work_is_refused_in_one_line(factory: Any, message: str) -> None:
    with pytest.raises(ExecutorFactoryError) as caught:
        ExecutorHost({"good": Plain, "bad": factory})

    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


async def test_a_factory_that_returns_another_class_fails_the_call() -> None:
    def liar(id: str) -> Named:
        return Plain()  # type: ignore[return-value]

    with pytest.raises(TypeError, match="returned Plain, not a Named"):
        maker("liar", liar)("node")
