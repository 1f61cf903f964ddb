"""Requests for input with Agent Framework's keywords; answers go to the response
handler of their (request type, response type); what could never be answered
is refused when asked, and two handlers of one pair when the class is defined."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Never

import pytest

from stepline import WorkflowBuilder, payloads
from stepline.executor import Executor, WorkflowContext, handler, response_handler
from stepline.host import ExecutorHost
from stepline.testing import InProcessRunner, of_kind
from stepline.v1 import events_pb2, executor_pb2, payload_pb2


@dataclass
class Spend:
    amount: int


@dataclass
class Hire:
    name: str


class Office(Executor):
    @handler
    async def ask(self, what: str, ctx: WorkflowContext) -> None:
        if what == "spend":
            await ctx.request_info(request_data=Spend(10), response_type=bool)
        elif what == "hire":
            await ctx.request_info(Hire("ann"), bool, request_id="hire-ann")
        else:  # nothing takes a str answer to a Spend
            await ctx.request_info(request_data=Spend(1), response_type=str)

    @response_handler
    async def spent(self, asked: Spend, ok: bool, ctx: WorkflowContext[Never, str]) -> None:
        await ctx.yield_output(f"spend {asked.amount}: {ok}")

    @response_handler
    async def hired(self, asked: Hire, ok: bool, ctx: WorkflowContext[Never, str]) -> None:
        await ctx.yield_output(f"hire {asked.name}: {ok}")


def execute(what: str = "", answers: list[tuple[Any, Any]] = ()) -> executor_pb2.ExecuteRequest:  # type: ignore[assignment]
    request = executor_pb2.ExecuteRequest(run_id="r", executor_id="o", executor_type="office")
    if what:
        request.messages.add(payload=payloads.encode(what))
    for asked, answer in answers:
        request.responses.add(
            request=payload_pb2.InputRequest(data=payloads.encode(asked)),
            response=payloads.encode(answer),
        )
    return request


async def test_af_keywords_ask_and_an_explicit_id_is_kept() -> None:
    host = ExecutorHost({"office": Office})

    spend = await host.execute(execute("spend"))
    hire = await host.execute(execute("hire"))

    assert [(r.request_id, r.data.type_name, r.response_type) for r in spend.requests] == [
        ("", "Spend", "boolean")  # the runner chooses the id
    ]
    assert [(r.request_id, r.data.type_name) for r in hire.requests] == [("hire-ann", "Hire")]


async def test_answers_of_one_type_go_by_the_type_of_their_request() -> None:
    host = ExecutorHost({"office": Office})

    result = await host.execute(execute(answers=[(Hire("bo"), True), (Spend(5), False)]))

    assert [payloads.json_value(o) for o in result.outputs] == ["hire bo: True", "spend 5: False"]


async def test_an_answer_no_handler_takes_fails_naming_both_types() -> None:
    result = await ExecutorHost({"office": Office}).execute(execute(answers=[(Spend(5), "yes")]))

    assert result.error.message.startswith(
        "executor 'o' has no response handler for a response of type 'string' to a request "
        "of type 'Spend'; it takes: (Hire, boolean), (Spend, boolean)"
    )


async def test_asking_for_an_answer_no_handler_takes_fails_the_call_at_once() -> None:
    result = await ExecutorHost({"office": Office}).execute(execute("other"))

    assert not result.requests
    assert result.error.type == "TypeError"
    assert result.error.message.startswith(
        "executor 'o' asked for a response of type 'string' to a request of type 'Spend', "
        "but no @response_handler takes that pair"
    )
    assert "(Hire, boolean), (Spend, boolean)" in result.error.message


async def test_the_run_fails_when_asked_not_after_the_answer(harness: InProcessRunner) -> None:
    harness.host("svc", {"office": Office})
    await harness.runner.register_workflow(
        WorkflowBuilder("o").add_executor("o", "svc", type="office").set_start_executor("o").build()
    )

    events = await harness.run("o", "other")

    assert not of_kind(events, events_pb2.EVENT_KIND_REQUEST_INFO)
    assert events[-1].status == events_pb2.RUN_STATUS_FAILED


def test_two_response_handlers_of_one_pair_are_refused_when_the_class_is_defined() -> None:
    with pytest.raises(TypeError, match="'a' and 'b' both take \\(request 'Spend', response"):

        class Twice(Executor):
            @handler
            async def ask(self, n: int, ctx: WorkflowContext) -> None: ...

            @response_handler
            async def a(self, asked: Spend, ok: bool, ctx: WorkflowContext) -> None: ...

            @response_handler
            async def b(self, asked: Spend, ok: bool, ctx: WorkflowContext) -> None: ...


def test_describe_lists_each_response_type_once() -> None:
    (office,) = ExecutorHost({"office": Office}).describe().executor_types

    assert list(office.response_types) == ["boolean"]
