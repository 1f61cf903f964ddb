"""Starting runs idempotently, listing runs and checkpoints page by page."""

from __future__ import annotations

import base64

import pytest

from stepline import payloads
from stepline.executor import Executor, WorkflowContext, handler
from stepline.testing import InProcessRunner
from stepline_runner.engine.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
)
from tests.support.runs import self_loop
from tests.support.stores import harness_on_both_stores

__all__ = ["harness_on_both_stores"]  # every test here runs on SQLite and PostgreSQL


class Echo(Executor):
    @handler
    async def echo(self, n: int, ctx: WorkflowContext) -> None:
        if n > 0:
            await ctx.send_message(n - 1)
        else:
            await ctx.yield_output("done")


@pytest.fixture
async def echo(harness: InProcessRunner) -> InProcessRunner:
    harness.host("svc", {"echo": Echo})
    await harness.runner.register_workflow(self_loop("w", "e", "echo").build())
    return harness


async def test_a_retried_start_with_the_same_run_id_returns_the_same_run(
    echo: InProcessRunner,
) -> None:
    first = await echo.runner.start_run("w", payloads.encode(2), "order-17")
    again = await echo.runner.start_run("w", payloads.encode(2), "order-17")

    assert again.run_id == first.run_id == "order-17"
    runs, _ = await echo.runner.list_runs("", 0, "")
    assert [r.run_id for r in runs] == ["order-17"]
    with pytest.raises(AlreadyExists, match="another workflow or input"):
        await echo.runner.start_run("w", payloads.encode(3), "order-17")


async def test_runs_and_checkpoints_come_page_by_page(echo: InProcessRunner) -> None:
    started = [(await echo.runner.start_run("w", payloads.encode(4))).run_id for _ in range(5)]
    for run_id in started:
        await echo.events(run_id)

    pages, token = [], ""
    while True:
        runs, token = await echo.runner.list_runs("w", 2, token)
        pages.append([r.run_id for r in runs])
        if not token:
            break
    assert pages == [started[::-1][0:2], started[::-1][2:4], started[::-1][4:]]

    checkpoints, token = await echo.runner.list_checkpoints(started[0], 4, "")
    rest, last = await echo.runner.list_checkpoints(started[0], 4, token)
    assert [c.superstep for c in checkpoints + rest] == [0, 1, 2, 3, 4, 5] and last == ""
    with pytest.raises(InvalidArgument, match="page_size"):
        await echo.runner.list_runs("", -1, "")
    with pytest.raises(NotFound):
        await echo.runner.list_checkpoints("nope", 0, "")


async def test_a_registered_workflow_reads_back_with_its_signature(echo: InProcessRunner) -> None:
    definition, signature = await echo.runner.workflows.definition("w")

    assert definition.workflow_id == "w" and [n.id for n in definition.executors] == ["e"]
    assert len(signature) == 32
    with pytest.raises(NotFound, match="no workflow 'x'"):
        await echo.runner.workflows.definition("x")


async def test_a_forged_page_token_is_refused(harness: InProcessRunner) -> None:
    forged = base64.urlsafe_b64encode(str(10**30).encode()).decode()
    with pytest.raises(InvalidArgument, match="not one this runner issued"):
        await harness.runner.list_runs("", 0, forged)
