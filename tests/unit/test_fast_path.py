"""The state returned with Execute (advertised in Describe) and the unary
SaveCheckpoint path give the same runs, state bytes included; a service
that stops (or starts) advertising it across a restart is followed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from stepline.executor import Executor, WorkflowContext, handler
from stepline.host import ExecutorHost
from stepline.testing import InProcessRunner, of_kind, outputs
from stepline.v1 import events_pb2 as E
from stepline.v1 import workflow_pb2
from tests.support.runs import line, self_loop

# Superstep -> a hook the counter runs at its start (a restart, say).
hooks: dict[int, Any] = {}


class Counter(Executor):
    def __init__(self) -> None:
        self.total = 0

    @handler
    async def step(self, n: int, ctx: WorkflowContext) -> None:
        hook = hooks.pop(n, None)
        if hook is not None:
            await hook()
        self.total += n
        if n < 6:
            await ctx.send_message(n + 1)
        else:
            await ctx.yield_output({"total": self.total, "attempt": ctx.attempt})

    def on_checkpoint_save(self) -> dict[str, Any]:
        return {"total": self.total}

    def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self.total = state["total"]


class Keeper(Executor):
    """Counts the odd numbers it saw, and passes each on."""

    def __init__(self) -> None:
        self.seen = 0

    @handler
    async def keep(self, n: int, ctx: WorkflowContext) -> None:
        self.seen += n % 2
        await ctx.send_message(n)

    def on_checkpoint_save(self) -> dict[str, Any]:
        return {"seen": self.seen}

    def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self.seen = state["seen"]


def workflows(endpoint: str, every_n: int) -> list[workflow_pb2.WorkflowDefinition]:
    loop = self_loop(f"loop-{endpoint}", "c", "counter", endpoint).build()
    chain = (
        line(f"chain-{endpoint}", "k1", "k2", "sink", endpoint=endpoint)
        .add_edge("sink", "sink")
        .build()
    )
    for definition in (loop, chain):
        for node in definition.executors:
            node.type = "keeper" if node.id.startswith("k") else "counter"
        if every_n:
            policy = definition.checkpoint_policy
            policy.mode = workflow_pb2.CheckpointPolicy.MODE_EVERY_N_SUPERSTEPS
            policy.every_n = every_n
    return [loop, chain]


async def run_all(harness: InProcessRunner, fast: bool, every_n: int) -> list[Any]:
    """Each workflow run once, on a service with the fast path on or off: its
    outputs, its events' kinds and every checkpoint's states."""
    endpoint = "fast" if fast else "unary"
    host = harness.host(endpoint, {"counter": Counter, "keeper": Keeper})
    host.fast_path = fast
    seen = []
    for definition, start in zip(workflows(endpoint, every_n), (1, 4), strict=True):
        await harness.runner.register_workflow(definition)
        events = await harness.run(definition.workflow_id, start)
        checkpoints, _ = await harness.runner.list_checkpoints(events[0].run_id, 0, "")
        states = []
        for checkpoint in checkpoints:
            content = (await harness.runner.get_checkpoint(checkpoint.checkpoint_id, True)).content
            by_executor = sorted(content.executor_states.items())
            states.append(
                (checkpoint.superstep, {x: s.SerializeToString() for x, s in by_executor})
            )
        seen.append((outputs(events), [e.kind for e in events], states))
    return seen


@pytest.mark.parametrize("every_n", [0, 2])
async def test_both_paths_give_the_same_runs_and_state_bytes(
    harness: InProcessRunner, every_n: int
) -> None:
    unary = await run_all(harness, False, every_n)
    fast = await run_all(harness, True, every_n)

    assert fast == unary
    assert fast[0][0] == [{"total": 21, "attempt": 1}]
    assert fast[1][0] == [{"total": 4 + 5 + 6, "attempt": 1}]
    calls = harness.executors.calls
    saves = calls.count(("unary", "SaveCheckpoint"))
    assert saves >= sum(len(states) - 1 for _, _, states in unary)  # checkpoint 0 has none
    if every_n:
        # A superstep that ends without a checkpoint is not asked for states,
        # and who ran only then is asked with SaveCheckpoint at the next one;
        # a run's last superstep may end with one that was not due.
        assert 0 < calls.count(("fast", "SaveCheckpoint")) < saves
    else:
        assert calls.count(("fast", "SaveCheckpoint")) == 0


@pytest.mark.parametrize("before", [True, False])
async def test_a_restart_that_changes_what_the_service_advertises_is_followed(
    harness: InProcessRunner, before: bool
) -> None:
    """Superstep 3 comes back from the old incarnation; the next call finds a
    new one (rollback), which is asked what it advertises before it is used."""
    harness.host("svc", {"counter": Counter}).fast_path = before
    await harness.runner.register_workflow(self_loop("w", "c", "counter").build())
    swapped = asyncio.Event()

    async def restart() -> None:
        new = ExecutorHost({"counter": Counter}, fast_path=not before)
        harness.executors.hosts["svc"] = new
        harness.executors.calls.clear()
        swapped.set()

    hooks[3] = restart
    events = await harness.run("w", 1)

    assert swapped.is_set()
    (rollback,) = of_kind(events, E.EVENT_KIND_ROLLBACK)
    assert "restarted" in rollback.message
    assert outputs(events) == [{"total": 21, "attempt": 1}]
    after = [method for _, method in harness.executors.calls]
    assert "Describe" in after
    if before:
        # Superstep 3's state came with Execute from the old incarnation;
        # superstep 4 finds the new one and rolls back to 3; 4-6 then save
        # with SaveCheckpoint, which the new incarnation does not advertise.
        assert after.count("SaveCheckpoint") == 3
    else:
        # SaveCheckpoint after superstep 3 finds the new incarnation, which
        # holds nothing: back to 2; from there its states come with Execute.
        assert after[0] == "SaveCheckpoint"
        assert after.count("SaveCheckpoint") == 1
