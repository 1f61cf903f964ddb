"""Finding a workflow's latest version: read once while no other runner uses
the database (every version is registered through this runner then), read
each time once shared; a version registered meanwhile is the one used."""

from __future__ import annotations

from typing import Any

from stepline import payloads
from stepline.executor import Executor, WorkflowContext, handler
from stepline.testing import InProcessRunner
from tests.support.runs import line


class Echo(Executor):
    @handler
    async def echo(self, n: int, ctx: WorkflowContext) -> None:
        await ctx.yield_output(n)


class Counted:
    """The registry's store, counting its reads of a workflow."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def get_workflow(self, *args: Any) -> Any:
        self.reads += 1
        return await self._store.get_workflow(*args)


def counted(harness: InProcessRunner) -> Counted:
    registry = harness.runner.workflows
    registry._store = store = Counted(registry._store)
    return store


async def test_the_latest_version_is_read_once_and_follows_registrations(
    harness: InProcessRunner,
) -> None:
    harness.host("svc", {"echo": Echo})
    await harness.runner.register_workflow(line("w", "echo").build())
    store = counted(harness)
    for n in range(3):
        await harness.run("w", n)
    assert store.reads == 0  # registered here: known

    await harness.runner.register_workflow(line("w", "echo").build())  # version 2
    run = await harness.runner.start_run("w", payloads.encode(7))
    assert run.workflow_version == 2
    assert store.reads == 0


async def test_a_shared_database_reads_the_latest_version_each_time(
    harness: InProcessRunner,
) -> None:
    harness.host("svc", {"echo": Echo})
    await harness.runner.register_workflow(line("w", "echo").build())
    harness.runner.workflows.share()  # as Runner.share does for other runners
    store = counted(harness)
    for n in range(3):
        await harness.run("w", n)

    assert store.reads == 3
