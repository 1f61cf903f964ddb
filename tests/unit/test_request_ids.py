"""One rule for request ids (payload.proto's InputRequest.request_id): chosen by
the executor that asks, or, when it leaves it empty, by the runner; unique
within the run, so an id still open cannot be asked again."""

from __future__ import annotations

from stepline import payloads
from stepline.executor import Executor, WorkflowContext, handler, response_handler
from stepline.v1 import events_pb2
from tests.unit.asker import asking
from tests.unit.conftest import Harness, of_kind

WAITING = events_pb2.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS


class Asker(Executor):
    @handler
    async def ask(self, ids: str, ctx: WorkflowContext) -> None:
        for request_id in ids.split(","):
            await ctx.request_info(request_data="ok?", response_type=bool, request_id=request_id)

    @response_handler
    async def answered(self, asked: str, ok: bool, ctx: WorkflowContext) -> None: ...


async def asked(harness: Harness, ids: str) -> list[events_pb2.Event]:
    harness.host("svc", {"asker": Asker})
    await harness.runner.register_workflow(asking())  # "a", type asker, at "svc"
    await harness.runner.start_run("ask", payloads.encode(ids), "r1")
    seen: list[events_pb2.Event] = []
    async for batch in harness.runner.watch("r1"):
        seen.extend(batch)
        if seen[-1].status in (WAITING, events_pb2.RUN_STATUS_FAILED):
            return seen
    raise AssertionError("the run ended without waiting for input")


async def test_the_executor_chooses_the_id_or_the_runner_does(harness: Harness) -> None:
    assert (await asked(harness, "order-7,"))[-1].status == WAITING

    pending = await harness.runner.pending_requests("r1")

    assert [r.request_id for r in pending] == ["order-7", "r1:1:a:1"]


async def test_an_id_still_open_cannot_be_asked_again(harness: Harness) -> None:
    events = await asked(harness, "twice,twice")

    assert not of_kind(events, events_pb2.EVENT_KIND_REQUEST_INFO)
    run = await harness.get_run("r1")
    assert run.status == events_pb2.RUN_STATUS_FAILED
    assert run.error.type == "DuplicateRequestId"
