"""`Asker`: an executor that asks for input and yields the request plus the
answer; `asking()` its one-node workflow (two nodes with `extra`)."""

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
