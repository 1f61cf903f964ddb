"""`WorkflowContext[T_Out]` and `WorkflowContext[T_Out, T_W_Out]` declare what a
handler sends and yields, as in Agent Framework, unless sends=/yields= say."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Never

import pytest

from stepline import WorkflowBuilder
from stepline.context import declared_types
from stepline.executor import Executor, WorkflowContext, handler, response_handler
from stepline.host import ExecutorHost
from stepline.testing import InProcessRunner
from stepline_runner.engine.errors import InvalidArgument


@dataclass
class Order:
    id: int


@dataclass
class Receipt:
    id: int


class Shop(Executor):
    @handler
    async def order(self, order: Order, ctx: WorkflowContext[Receipt, str]) -> None:
        await ctx.send_message(Receipt(order.id))
        await ctx.yield_output(f"order {order.id}")

    @handler
    async def count(self, n: int, ctx: WorkflowContext[int | Order]) -> None:
        await ctx.send_message(n)

    @handler
    async def note(self, text: str, ctx: WorkflowContext[Never, dict[str, Any]]) -> None:
        await ctx.yield_output({"note": text})

    @handler
    async def anything(self, flag: bool, ctx: WorkflowContext[Any, Any]) -> None: ...

    @handler(sends=(float,))
    async def priced(self, items: list[Order], ctx: WorkflowContext[int]) -> None: ...

    @response_handler
    async def answered(self, asked: Order, answer: bool, ctx: WorkflowContext[Never, bool]) -> None:
        await ctx.yield_output(answer)


def test_the_annotation_declares_sends_and_yields_per_handler() -> None:
    specs = Shop.handler_specs()

    assert (specs["Order"].sends, specs["Order"].yields) == (("Receipt",), ("string",))
    assert (specs["integer"].sends, specs["integer"].yields) == (("integer", "Order"), ())
    assert (specs["string"].sends, specs["string"].yields) == ((), ("object",))
    assert (specs["boolean"].sends, specs["boolean"].yields) == ((), ())
    # sends= given wins for the sends; the yields still come from the annotation.
    assert specs["stepline.v1.MessageBatch"].sends == ("number",)
    assert Shop.response_handler_specs()[("Order", "boolean")].yields == ("boolean",)


def test_describe_reports_what_the_annotations_declare() -> None:
    (shop,) = ExecutorHost({"shop": Shop}).describe().executor_types

    assert list(shop.output_types) == ["Order", "Receipt", "integer", "number"]
    assert list(shop.yield_types) == ["boolean", "object", "string"]


def test_annotations_that_declare_nothing() -> None:
    assert declared_types(WorkflowContext) is None
    assert declared_types(int) is None
    assert declared_types(WorkflowContext[Never]) == ((), ())
    assert declared_types(WorkflowContext[int]) == ((int,), ())


def test_three_type_arguments_are_refused_when_the_class_is_defined() -> None:
    with pytest.raises(TypeError, match=r"Bad\.h: cannot read its annotations: Too many arguments"):

        class Bad(Executor):
            @handler
            async def h(self, n: int, ctx: WorkflowContext[int, int, int]) -> None: ...  # type: ignore[type-arg]


def test_a_declared_type_that_cannot_travel_is_refused_naming_the_handler() -> None:
    with pytest.raises(TypeError, match=r"Bad\.h: .*cannot travel as a payload"):

        class Bad(Executor):
            @handler
            async def h(self, n: int, ctx: WorkflowContext[object]) -> None: ...


class Receiver(Executor):
    @handler
    async def take(self, receipt: Receipt, ctx: WorkflowContext) -> None: ...


class Noter(Executor):
    @handler
    async def take(self, text: str, ctx: WorkflowContext) -> None: ...


async def test_the_runner_checks_edges_against_annotated_sends(harness: InProcessRunner) -> None:
    harness.host("svc", {"shop": Shop, "receiver": Receiver, "noter": Noter})

    def shop_to(target: str) -> Any:
        return (
            WorkflowBuilder(f"to-{target}")
            .add_executor("shop", "svc")
            .add_executor(target, "svc")
            .add_edge("shop", target)
            .set_start_executor("shop")
            .build()
        )

    await harness.runner.register_workflow(shop_to("receiver"))
    with pytest.raises(InvalidArgument, match="'noter' takes string but 'shop' sends only"):
        await harness.runner.register_workflow(shop_to("noter"))
