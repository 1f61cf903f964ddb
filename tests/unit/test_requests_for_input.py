"""Requests for input in the engine: an answer reaches its response handler
with its request, and answers meant for another graph are refused."""

from __future__ import annotations

import pytest

from stepline import payloads
from stepline.testing import InProcessRunner
from stepline.v1 import events_pb2 as E
from stepline_runner.engine.errors import FailedPrecondition
from tests.support.stores import harness_on_both_stores
from tests.unit.asker import Asker, asking

__all__ = ["harness_on_both_stores"]  # every test here runs on SQLite and PostgreSQL


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


async def test_answers_after_a_registration_of_another_graph_go_on_with_the_runs_own(
    harness: InProcessRunner,
) -> None:
    harness.host("svc", {"asker": Asker})
    await harness.runner.register_workflow(asking())
    run = await harness.runner.start_run("ask", payloads.encode(1))
    async for batch in harness.runner.watch(run.run_id):
        if any(e.status == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS for e in batch):
            break
    (request,) = await harness.runner.pending_requests(run.run_id)
    _, version = await harness.runner.register_workflow(asking(extra=True))

    with pytest.raises(FailedPrecondition, match="only endpoints may change"):
        await harness.runner.move_runs("ask", version, [run.run_id], False)
    answered = await harness.runner.send_responses(
        run.run_id, {request.request_id: payloads.encode(1)}
    )

    assert (version, answered.workflow_version, run.workflow_version) == (2, 1, 1)
