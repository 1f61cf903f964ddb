"""Helpers for tests that drive runs: the graphs tests share, waiting on a
`RunnerClient`'s events (never on a clock), and what a run left."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stepline import RunnerClient, WorkflowBuilder
from stepline.v1 import events_pb2 as E
from stepline.v1 import payload_pb2, workflow_pb2


def stage_loop(
    workflow_id: str, endpoints: Sequence[str], max_supersteps: int = 1000
) -> workflow_pb2.WorkflowDefinition:
    """a -> b -> c -> a, three `stage` executors (tests/executors/stages.py)
    at three endpoints, or at two (a and b at the first, c at the second);
    the token ends the run after its hop limit."""
    a, b, c = (endpoints[0], *endpoints) if len(endpoints) == 2 else endpoints
    return (
        WorkflowBuilder(workflow_id, max_supersteps=max_supersteps)
        .add_executor("a", a, type="stage")
        .add_executor("b", b, type="stage")
        .add_executor("c", c, type="stage")
        .add_chain(["a", "b", "c", "a"])
        .set_start_executor("a")
        .build()
    )


def self_loop(
    workflow_id: str,
    executor_id: str,
    executor_type: str = "",
    endpoint: str = "svc",
    max_supersteps: int = 0,
) -> WorkflowBuilder:
    """One executor that sends its messages to itself, starting the run (its
    type defaults to its id; 0 supersteps: the runner's limit)."""
    return (
        WorkflowBuilder(workflow_id, max_supersteps=max_supersteps)
        .add_executor(executor_id, endpoint, type=executor_type)
        .add_edge(executor_id, executor_id)
        .set_start_executor(executor_id)
    )


def line(workflow_id: str, *executor_ids: str, endpoint: str = "svc") -> WorkflowBuilder:
    """Executors in a chain, the first starting the run; each executor's type
    is its id."""
    builder = WorkflowBuilder(workflow_id)
    for executor_id in executor_ids:
        builder.add_executor(executor_id, endpoint)
    return builder.add_chain(list(executor_ids)).set_start_executor(executor_ids[0])


async def until_superstep(client: RunnerClient, run_id: str, superstep: int) -> None:
    """Return once the run has completed superstep `superstep`."""
    async for event in client.watch(run_id):
        if event.kind == E.EVENT_KIND_SUPERSTEP_COMPLETED and event.superstep >= superstep:
            return
    raise AssertionError(f"run {run_id} ended before superstep {superstep}")


async def until_waiting(client: RunnerClient, run_id: str, after: int = 0) -> E.Event:
    """The next time (after sequence `after`) the run waits for input."""
    async for event in client.watch(run_id, after=after):
        if event.status == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS:
            return event
    raise AssertionError(f"run {run_id} ended without waiting for input")


async def latest_states(client: RunnerClient, run_id: str) -> dict[str, Any]:
    """The executor states of the run's latest checkpoint, decoded from JSON."""
    run = await client.get_run(run_id)
    return await client.get_checkpoint_states(run.latest_checkpoint_id)


async def latest_payloads(client: RunnerClient, run_id: str) -> dict[str, payload_pb2.Payload]:
    """The executor states of the run's latest checkpoint, as stored."""
    run = await client.get_run(run_id)
    checkpoint = await client.get_checkpoint(run.latest_checkpoint_id, include_content=True)
    return dict(checkpoint.content.executor_states)


def assert_exact_log(events: Sequence[E.Event]) -> None:
    """Sequences 1, 2, 3, ... with no gap or repeat, and exactly one output."""
    sequences = [e.sequence for e in events]
    assert sequences == list(range(1, len(sequences) + 1))
    assert len([e for e in events if e.kind == E.EVENT_KIND_OUTPUT]) == 1


def of_kind(events: Sequence[E.Event], kind: E.EventKind) -> list[E.Event]:
    return [e for e in events if e.kind == kind]
