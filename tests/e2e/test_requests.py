"""Human in the loop: requests for input that survive a runner restart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from stepline import RunnerClient, SteplineError, WorkflowBuilder, payloads
from stepline.v1 import events_pb2 as E
from tests.executors.approvals import Decision, Order
from tests.support.processes import Service, free_port, start_executors, start_runner


@dataclass
class Desk:
    db: Path
    port: int
    executors: Service
    runner: Service
    client: RunnerClient

    async def restart_runner(self) -> None:
        await self.client.close()
        await self.runner.kill()
        self.runner = await start_runner(self.db, self.port)
        self.client = RunnerClient(self.runner.address)

    async def until_waiting(self, run_id: str, after: int = 0) -> E.Event:
        """The next time (after sequence `after`) the run waits for input."""
        async for event in self.client.watch(run_id, after=after):
            if event.status == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS:
                return event
        raise AssertionError(f"run {run_id} ended without waiting for input")


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    executors = await start_executors("approvals")
    port = free_port()
    runner = await start_runner(tmp_path / "stepline.db", port)
    desk = Desk(tmp_path / "stepline.db", port, executors, runner, RunnerClient(runner.address))
    svc = executors.address
    await desk.client.register_workflow(
        WorkflowBuilder("approve")
        .add_executor("intake", svc)
        .add_executor("boss", svc, type="reviewer")
        .add_executor("close", svc)
        .add_chain(["intake", "boss", "close"])
        .set_start_executor("intake")
        .build()
    )
    await desk.client.register_workflow(
        WorkflowBuilder("two-keys")
        .add_executor("intake", svc)
        .add_executor("legal", svc, type="reviewer")
        .add_executor("finance", svc, type="reviewer")
        .add_executor("close", svc, type="close-all")
        .add_fan_out("intake", ["legal", "finance"])
        .add_fan_in(["legal", "finance"], "close")
        .set_start_executor("intake")
        .build()
    )
    try:
        yield desk
    finally:
        await desk.client.close()
        await desk.runner.kill()
        await desk.executors.kill()


@pytest.mark.parametrize(("approved", "status"), [(True, "approved"), (False, "rejected")])
async def test_an_approval_waits_across_a_runner_restart(
    desk: Desk, approved: bool, status: str
) -> None:
    run = await desk.client.start_run("approve", Order("o-1", 250))
    await desk.until_waiting(run.run_id)
    (request,) = await desk.client.list_pending_requests(run.run_id)
    assert request.executor_id == "boss" and request.response_type == "Decision"

    await desk.restart_runner()
    await desk.client.wait_for_ready()
    waiting = await desk.client.get_run(run.run_id)
    assert waiting.status == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS
    await desk.client.send_responses(run.run_id, {request.request_id: Decision(approved, "ann")})
    result = await desk.client.wait(run.run_id, output_type=dict)

    assert result.outputs == [{"order": "o-1", "status": status, "by": "ann"}]
    asked = [e for e in result.events if e.kind == E.EVENT_KIND_REQUEST_INFO]
    assert [e.request.request_id for e in asked] == [request.request_id]
    (answer,) = [e for e in result.events if e.kind == E.EVENT_KIND_RESPONSE_RECEIVED]
    assert answer.request.request_id == request.request_id
    assert payloads.decode(answer.data, Decision) == Decision(approved, "ann")
    states = await desk.client.get_checkpoint_states(result.run.latest_checkpoint_id)
    assert states["boss"] == {"asked": 1, "decisions": [approved]}


async def test_two_parallel_requests_answered_in_two_calls(desk: Desk) -> None:
    run = await desk.client.start_run("two-keys", Order("o-2", 9000))
    await desk.until_waiting(run.run_id)
    requests = {r.executor_id: r for r in await desk.client.list_pending_requests(run.run_id)}
    assert sorted(requests) == ["finance", "legal"]

    after_first = await desk.client.send_responses(
        run.run_id, {requests["legal"].request_id: Decision(True, "lee")}
    )
    assert after_first.status == E.RUN_STATUS_RUNNING_WITH_PENDING_REQUESTS
    await desk.until_waiting(run.run_id, after_first.last_sequence)
    (left,) = await desk.client.list_pending_requests(run.run_id)
    assert left.executor_id == "finance"
    await desk.client.send_responses(run.run_id, {left.request_id: Decision(True, "fay")})
    result = await desk.client.wait(run.run_id, output_type=dict)

    assert result.outputs == [
        {"order": "o-2", "approved": True, "by": ["finance:fay", "legal:lee"]}
    ]


async def test_bad_responses_get_precise_statuses(desk: Desk) -> None:
    run = await desk.client.start_run("approve", Order("o-3", 1))
    await desk.until_waiting(run.run_id)
    (request,) = await desk.client.list_pending_requests(run.run_id)

    async def code_of(responses: dict[str, object], run_id: str = run.run_id) -> grpc.StatusCode:
        with pytest.raises(SteplineError) as refused:
            await desk.client.send_responses(run_id, responses)
        return refused.value.code

    assert await code_of({"no-such-request": Decision(True, "x")}) == grpc.StatusCode.NOT_FOUND
    assert await code_of({request.request_id: "yes"}) == grpc.StatusCode.INVALID_ARGUMENT
    assert await code_of({}) == grpc.StatusCode.INVALID_ARGUMENT
    assert await code_of({"x": Decision(True, "x")}, "no-run") == grpc.StatusCode.NOT_FOUND

    await desk.client.send_responses(run.run_id, {request.request_id: Decision(False, "bo")})
    await desk.client.wait(run.run_id)

    # The run is over now, so it is not waiting; and that request was answered.
    assert (
        await code_of({request.request_id: Decision(True, "x")})
        == grpc.StatusCode.FAILED_PRECONDITION
    )

    second = await desk.client.start_run("two-keys", Order("o-4", 1))
    await desk.until_waiting(second.run_id)
    legal = next(
        r
        for r in await desk.client.list_pending_requests(second.run_id)
        if r.executor_id == "legal"
    )
    answered = await desk.client.send_responses(
        second.run_id, {legal.request_id: Decision(True, "lee")}
    )
    await desk.until_waiting(second.run_id, answered.last_sequence)
    assert (
        await code_of({legal.request_id: Decision(True, "lee")}, second.run_id)
        == grpc.StatusCode.FAILED_PRECONDITION
    )


async def test_a_fork_of_a_waiting_checkpoint_waits_without_asking_again(desk: Desk) -> None:
    run = await desk.client.start_run("approve", Order("o-5", 5))
    await desk.until_waiting(run.run_id)
    waiting = await desk.client.get_run(run.run_id)

    fork = await desk.client.resume(waiting.latest_checkpoint_id, fork=True)
    await desk.until_waiting(fork.run_id)
    (request,) = await desk.client.list_pending_requests(fork.run_id)
    await desk.client.send_responses(fork.run_id, {request.request_id: Decision(True, "cy")})
    result = await desk.client.wait(fork.run_id, output_type=dict)
    with pytest.raises(SteplineError) as again:
        await desk.client.send_responses(fork.run_id, {request.request_id: Decision(True, "cy")})
    assert again.value.code == grpc.StatusCode.FAILED_PRECONDITION

    assert result.outputs == [{"order": "o-5", "status": "approved", "by": "cy"}]
    assert [e for e in result.events if e.kind == E.EVENT_KIND_REQUEST_INFO] == []
    original = await desk.client.get_run(run.run_id)
    assert original.status == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS
