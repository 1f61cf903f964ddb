"""An executor that asks for input, for engine tests of requests."""

from __future__ import annotations

from stepline import WorkflowBuilder
from stepline.executor import Executor, WorkflowContext, handler, response_handler
from stepline.v1 import workflow_pb2


class Asker(Executor):
    @handler
    async def ask(self, n: int, ctx: WorkflowContext) -> None:
        await ctx.request_info(n, int)

    @response_handler
    async def answered(self, request: int, answer: int, ctx: WorkflowContext) -> None:
        await ctx.yield_output(request + answer)


def asking(extra: bool = False) -> workflow_pb2.WorkflowDefinition:
    builder = WorkflowBuilder("ask").add_executor("a", "svc", type="asker")
    if extra:
        builder.add_executor("b", "svc", type="asker").add_edge("a", "b")
    return builder.set_start_executor("a").build()


async def test_an_answer_reaches_the_response_handler_with_its_request() -> None:
    from stepline import payloads
    from stepline.host import ExecutorHost
    from stepline.v1 import executor_pb2, payload_pb2

    host = ExecutorHost({"asker": Asker})
    request = executor_pb2.ExecuteRequest(run_id="r", executor_id="a", executor_type="asker")
    request.responses.add(
        request=payload_pb2.InputRequest(data=payloads.encode(2), response_type="integer"),
        response=payloads.encode(40),
    )

    result = await host.execute(request)

    assert [payloads.json_value(o) for o in result.outputs] == [42]
