"""Executors that restart or go away cost a rollback, not the run."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from stepline import payloads
from stepline.executor import Executor, WorkflowContext, handler
from stepline.host import ExecutorHost
from stepline.testing import InProcessRunner, of_kind, outputs
from stepline.v1 import events_pb2 as E
from stepline.v1 import workflow_pb2
from stepline_runner.engine.runner import Runner
from tests.support.runs import self_loop
from tests.unit.gated import Stepper, loop

# Test hooks, run by the executor at the start of a superstep it is told of.
hooks: dict[int, Any] = {}


class Counter(Executor):
    def __init__(self) -> None:
        self.total = 0
        self.attempts: list[int] = []

    @handler
    async def step(self, n: int, ctx: WorkflowContext) -> None:
        hook = hooks.pop(n, None)
        if hook is not None:
            await hook()
        self.total += n
        self.attempts.append(ctx.attempt)
        if n < 6:
            await ctx.send_message(n + 1)
        else:
            await ctx.yield_output({"total": self.total, "attempts": self.attempts})

    def on_checkpoint_save(self) -> dict[str, Any]:
        return {"total": self.total, "attempts": self.attempts}

    def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self.total = state["total"]
        self.attempts = list(state["attempts"])


def counting(workflow_id: str, endpoint: str) -> Any:
    return self_loop(workflow_id, "c", "counter", endpoint).build()


@pytest.mark.parametrize("fast_path", [False, True])
async def test_an_executor_restart_rolls_the_run_back_and_reruns_the_superstep(
    harness: InProcessRunner, fast_path: bool
) -> None:
    harness.host("svc", {"counter": Counter}).fast_path = fast_path
    harness.host("other", {"counter": Counter}).fast_path = fast_path
    await harness.runner.register_workflow(counting("w", "svc"))
    await harness.runner.register_workflow(counting("bystander", "other"))

    async def restart() -> None:  # the service loses everything it held
        harness.executors.hosts["svc"] = ExecutorHost({"counter": Counter})

    hooks[3] = restart
    events, bystander = await asyncio.gather(harness.run("w", 1), harness.run("bystander", 1))

    (rollback,) = of_kind(events, E.EVENT_KIND_ROLLBACK)
    assert "restarted" in rollback.message
    # Superstep 3's result came back from the old incarnation. On the unary
    # path SaveCheckpoint then finds the new one, and superstep 3 runs again;
    # with the fast path its state came with that result, and the superstep
    # that finds the new incarnation is 4.
    attempts = [1, 1, 1, 2, 1, 1] if fast_path else [1, 1, 2, 1, 1, 1]
    assert outputs(events) == [{"total": 21, "attempts": attempts}]
    assert of_kind(bystander, E.EVENT_KIND_ROLLBACK) == []
    assert outputs(bystander) == [{"total": 21, "attempts": [1] * 6}]
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert len(of_kind(events, E.EVENT_KIND_OUTPUT)) == 1


async def test_an_outage_is_waited_out_with_backoff(harness: InProcessRunner) -> None:
    harness.host("svc", {"counter": Counter})
    await harness.runner.register_workflow(counting("w", "svc"))

    async def outage() -> None:
        harness.executors.down["svc"] = 3  # this Execute's reply and two restores fail

    hooks[4] = outage
    events = await harness.run("w", 1)

    assert [e.message for e in of_kind(events, E.EVENT_KIND_ROLLBACK)] != []
    assert outputs(events)[0]["total"] == 21
    assert events[-1].status == E.RUN_STATUS_COMPLETED


async def test_an_executor_that_never_comes_back_fails_the_run_which_resumes_later(
    harness: InProcessRunner,
) -> None:
    harness.host("svc", {"counter": Counter})
    await harness.runner.register_workflow(counting("w", "svc"))

    async def gone() -> None:
        harness.executors.down["svc"] = 1000

    hooks[4] = gone
    events = await harness.run("w", 1)

    (failed,) = of_kind(events, E.EVENT_KIND_RUN_FAILED)
    assert failed.error.type == "ExecutorUnavailable"
    assert "did not come back after 4 attempts" in failed.error.message
    run = await harness.get_run(events[0].run_id)
    assert run.status == E.RUN_STATUS_FAILED

    harness.executors.down["svc"] = 0
    await harness.runner.resume(run.latest_checkpoint_id)
    rest = await harness.events(run.run_id, events[-1].sequence)
    assert outputs(rest)[0]["total"] == 21
    assert rest[-1].status == E.RUN_STATUS_COMPLETED


async def test_a_new_runner_resumes_what_the_old_one_was_running(harness: InProcessRunner) -> None:
    harness.host("svc", {"stepper": Stepper})
    Stepper.reset()
    await harness.runner.register_workflow(loop().build())
    run = await harness.runner.start_run("w", payloads.encode(1))
    await Stepper.entered.wait()
    await harness.runner.close()  # the run stays RUNNING in the store

    restarted = Runner(harness.runner.store, harness.executors, retry=harness.runner.retry)
    Stepper.release.set()
    assert await restarted.resume_unfinished() == [run.run_id]
    events = [e async for b in restarted.watch(run.run_id) for e in b]
    await restarted.close()

    (resumed,) = of_kind(events, E.EVENT_KIND_RUN_RESUMED)
    assert resumed.message == "the runner restarted"
    assert outputs(events) == [5]
    assert events[-1].status == E.RUN_STATUS_COMPLETED


async def test_a_run_cancelled_while_waiting_to_be_resumed_stays_cancelled(
    harness: InProcessRunner,
) -> None:
    harness.host("svc", {"stepper": Stepper})
    Stepper.reset()
    await harness.runner.register_workflow(loop().build())
    run = await harness.runner.start_run("w", payloads.encode(1))
    await Stepper.entered.wait()
    await harness.runner.close()
    harness.executors.down["svc"] = 1000  # its executors are not back yet

    restarted = Runner(harness.runner.store, harness.executors, retry=harness.runner.retry)
    await restarted.resume_unfinished()
    cancelled = await restarted.cancel_run(run.run_id)
    await asyncio.gather(*restarted.runs._recovering)  # the resume attempt gives up
    harness.executors.down["svc"] = 0

    assert cancelled.status == E.RUN_STATUS_CANCELLED
    assert (await restarted.get_run(run.run_id)).status == E.RUN_STATUS_CANCELLED
    assert not restarted.runs.is_active(run.run_id)
    await restarted.close()


async def test_a_rollback_under_a_sparse_policy_repeats_no_status(harness: InProcessRunner) -> None:
    harness.host("svc", {"counter": Counter})
    definition = counting("w", "svc")
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
