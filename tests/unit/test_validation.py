"""Registration refuses malformed workflows with a message naming the fault."""

from __future__ import annotations

import pytest

from stepline import WorkflowBuilder
from stepline.executor import Executor, WorkflowContext, handler
from stepline.testing import InProcessRunner
from stepline_runner.engine.errors import FailedPrecondition, InvalidArgument
from tests.unit.plateau import Plateau, plateau_loop


class Numbers(Executor):
    @handler(sends=(int,))
    async def take(self, n: int, ctx: WorkflowContext) -> None:
        await ctx.send_message(n)


class Texts(Executor):
    @handler
    async def take(self, text: str, ctx: WorkflowContext) -> None:
        await ctx.yield_output(text)


def base() -> WorkflowBuilder:
    return (
        WorkflowBuilder("w")
        .add_executor("a", "svc", type="numbers")
        .add_executor("b", "svc", type="numbers")
        .add_executor("t", "svc", type="texts")
        .set_start_executor("a")
    )


CASES = {
    "duplicate executor id": (
        base().add_executor("a", "svc", type="numbers"),
        "duplicate executor id 'a'",
    ),
    "missing start executor": (base().set_start_executor(""), "start_executor_id is required"),
    "unknown start executor": (base().set_start_executor("zz"), "start executor 'zz'"),
    "edge to an unknown id": (base().add_edge("a", "nobody"), "target 'nobody' is not a defined"),
    "edge from an unknown id": (base().add_edge("ghost", "a"), "source 'ghost'"),
    "switch-case without a default": (
        base().add_switch("a", [("message > 1", "b")], ""),
        "needs a default target",
    ),
    "bad CEL expression": (
        base().add_edge("a", "b", condition="message >"),
        "edges[0] (direct): invalid CEL expression 'message >'",
    ),
    "bad CEL in a switch case": (
        base().add_switch("a", [("message ==", "b")], "b"),
        "edges[0] (switch_case) cases[0]",
    ),
    "type-incompatible edge": (
        base().add_edge("a", "t"),
        "edges[0]: 't' takes string but 'a' sends only integer",
    ),
    "fan-in target without a list handler": (
        base().add_fan_in(["a", "b"], "t"),
        "fan-in target 't' needs a handler that takes a list",
    ),
}


@pytest.mark.parametrize("case", CASES)
async def test_registration_refuses(harness: InProcessRunner, case: str) -> None:
    harness.host("svc", {"numbers": Numbers, "texts": Texts})
    builder, message = CASES[case]

    with pytest.raises(InvalidArgument) as refused:
        await harness.runner.register_workflow(builder.build())

    assert message in str(refused.value)


async def test_registration_refuses_an_executor_type_the_service_does_not_host(
    harness: InProcessRunner,
) -> None:
    harness.host("svc", {"numbers": Numbers})
    with pytest.raises(FailedPrecondition) as refused:
        await harness.runner.register_workflow(base().build())
    assert "hosts no executor type 'texts'; it hosts: numbers" in str(refused.value)


@pytest.mark.parametrize("seconds", [-5, 10**9])
async def test_an_execute_timeout_out_of_range_is_refused(
    harness: InProcessRunner, seconds: int
) -> None:
    harness.host("svc", {"plateau": Plateau})
    definition = plateau_loop()
    definition.executors[0].execute_timeout.seconds = seconds

    with pytest.raises(InvalidArgument, match="execute_timeout must be between"):
        await harness.runner.register_workflow(definition)
