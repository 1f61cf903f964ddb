"""Failure paths found in review: each keeps the log exact and the data whole."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from stepline import WorkflowBuilder, payloads
from stepline.executor import Executor, WorkflowContext, handler
from stepline.testing import InProcessRunner, of_kind, outputs
from stepline.v1 import events_pb2 as E
from stepline.v1 import workflow_pb2
from stepline_runner.engine.errors import FailedPrecondition, InvalidArgument
from tests.unit.test_checkpoints import Plateau, loop


class Shouter(Executor):
    @handler
    async def shout(self, n: int, ctx: WorkflowContext) -> None:
        await ctx.yield_output(f"out-{n}")
        await ctx.send_message(n)


async def test_a_routing_failure_logs_nothing_the_superstep_produced(
    harness: InProcessRunner,
) -> None:
    harness.host("svc", {"shout": Shouter})
    await harness.runner.register_workflow(
        WorkflowBuilder("w")
        .add_executor("a", "svc", type="shout")
        .add_executor("b", "svc", type="shout")
        .add_edge("a", "b", condition="message.y > 0")  # an int has no field y
        .set_start_executor("a")
        .build()
    )
    events = await harness.run("w", 1)
    (failed,) = of_kind(events, E.EVENT_KIND_RUN_FAILED)
    assert failed.error.type == "RoutingError"

    run = await harness.get_run(events[0].run_id)
    await harness.runner.resume(run.latest_checkpoint_id)
    again = await harness.events(run.run_id, events[-1].sequence)

    assert outputs(events) == outputs(again) == []  # the superstep will run again


async def test_a_fork_keeps_its_states_when_the_source_checkpoint_goes(
    harness: InProcessRunner,
) -> None:
    harness.host("svc", {"plateau": Plateau})
    await harness.runner.register_workflow(loop())
    events = await harness.run("w", 0)
    checkpoints, _ = await harness.runner.list_checkpoints(events[0].run_id, 0, "")
    source = checkpoints[2]  # level 1: the only checkpoint holding that state
    restore = harness.runner.runs.restore

    async def restore_while_deleted(*args: Any) -> dict[str, str]:
        await harness.runner.delete_checkpoint(source.checkpoint_id)  # meanwhile
        return await restore(*args)

    harness.runner.runs.restore = restore_while_deleted  # type: ignore[method-assign, assignment]
    fork = await harness.runner.resume(source.checkpoint_id, fork=True)
    harness.runner.runs.restore = restore  # type: ignore[method-assign]
    await harness.events(fork.run_id)

    first = (await harness.runner.list_checkpoints(fork.run_id, 0, ""))[0][0]
    content = (await harness.runner.get_checkpoint(first.checkpoint_id, True)).content
    assert payloads.json_value(content.executor_states["p"]) == {"level": 1}


async def test_a_new_run_id_always_forks(harness: InProcessRunner) -> None:
    harness.host("svc", {"plateau": Plateau})
    await harness.runner.register_workflow(loop(policy=None))
    events = await harness.run("w", 0)
    run = await harness.get_run(events[0].run_id)
    checkpoints, _ = await harness.runner.list_checkpoints(run.run_id, 0, "")

    fork = await harness.runner.resume(checkpoints[4].checkpoint_id, new_run_id="my-fork")

    assert fork.run_id == "my-fork" and fork.parent_run_id == run.run_id


async def test_a_rollback_under_a_sparse_policy_repeats_no_status(harness: InProcessRunner) -> None:
    from stepline.host import ExecutorHost
    from tests.unit.test_recovery import Counter, hooks

    harness.host("svc", {"counter": Counter})
    definition = (
        WorkflowBuilder("w")
        .add_executor("c", "svc", type="counter")
        .add_edge("c", "c")
        .set_start_executor("c")
        .build()
    )
    definition.checkpoint_policy.CopyFrom(
        workflow_pb2.CheckpointPolicy(
            mode=workflow_pb2.CheckpointPolicy.MODE_EVERY_N_SUPERSTEPS, every_n=3
        )
    )
    await harness.runner.register_workflow(definition)

    async def restart() -> None:
        harness.executors.hosts["svc"] = ExecutorHost({"counter": Counter})

    hooks[5] = restart
    events = await harness.run("w", 1)

    assert of_kind(events, E.EVENT_KIND_ROLLBACK)
    statuses = [e.status for e in of_kind(events, E.EVENT_KIND_STATUS_CHANGED)]
    assert statuses == [E.RUN_STATUS_RUNNING, E.RUN_STATUS_COMPLETED]
    assert outputs(events)[0]["total"] == 21


async def test_answers_under_a_changed_graph_are_refused(harness: InProcessRunner) -> None:
    from tests.unit.test_requests_unit import Asker, asking

    harness.host("svc", {"asker": Asker})
    await harness.runner.register_workflow(asking())
    run = await harness.runner.start_run("ask", payloads.encode(1))
    async for batch in harness.runner.watch(run.run_id):
        if any(e.status == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS for e in batch):
            break
    (request,) = await harness.runner.pending_requests(run.run_id)
    await harness.runner.register_workflow(asking(extra=True))

    with pytest.raises(FailedPrecondition, match="another graph"):
        await harness.runner.send_responses(run.run_id, {request.request_id: payloads.encode(1)})


@pytest.mark.parametrize("seconds", [-5, 10**9])
async def test_an_execute_timeout_out_of_range_is_refused(
    harness: InProcessRunner, seconds: int
) -> None:
    harness.host("svc", {"plateau": Plateau})
    definition = loop()
    definition.executors[0].execute_timeout.seconds = seconds

    with pytest.raises(InvalidArgument, match="execute_timeout must be between"):
        await harness.runner.register_workflow(definition)


async def test_a_forged_page_token_is_refused(harness: InProcessRunner) -> None:
    forged = base64.urlsafe_b64encode(str(10**30).encode()).decode()
    with pytest.raises(InvalidArgument, match="not one this runner issued"):
        await harness.runner.list_runs("", 0, forged)


async def test_a_cancel_that_meets_the_final_commit_lets_it_land_first(
    harness: InProcessRunner,
) -> None:
    harness.host("svc", {"plateau": Plateau})
    await harness.runner.register_workflow(loop())
    store, runs = harness.runner.store, harness.runner.runs
    commit, stop = store.commit, runs.stop
    at_commit, stopping, gate = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def slow_final_commit(run_id: str, update: Any, *args: Any) -> Any:
        if update.status == E.RUN_STATUS_COMPLETED:
            at_commit.set()
            await gate.wait()
        return await commit(run_id, update, *args)

    async def noticed_stop(run_id: str) -> None:
        stopping.set()
        await stop(run_id)

    store.commit = slow_final_commit  # type: ignore[method-assign, assignment]
    runs.stop = noticed_stop  # type: ignore[method-assign]
    run = await harness.runner.start_run("w", payloads.encode(0))
    await at_commit.wait()
    cancel = asyncio.create_task(harness.runner.cancel_run(run.run_id))
    await stopping.wait()
    gate.set()
    ended = await cancel

    assert ended.status == E.RUN_STATUS_COMPLETED
    statuses = [
        e.status for e in of_kind(await harness.events(run.run_id), E.EVENT_KIND_STATUS_CHANGED)
    ]
    assert statuses == [E.RUN_STATUS_RUNNING, E.RUN_STATUS_COMPLETED]
