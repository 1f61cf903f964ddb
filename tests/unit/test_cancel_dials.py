"""Cancelling a run lets its executor services release it (EndRun), but only
at endpoints the runner may dial now: its allow-list may be stricter than the
one the run's workflow version was registered under."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

from stepline import WorkflowBuilder, payloads
from stepline.executor import Executor, WorkflowContext, handler
from stepline.testing import InProcessRunner
from stepline.v1 import events_pb2 as E
from stepline_runner.engine.allowlist import AllowList
from stepline_runner.engine.runner import Runner


class Waiter(Executor):
    """Never finishes its first message: the run stays under way."""

    entered: ClassVar[asyncio.Event] = asyncio.Event()

    @handler
    async def wait(self, value: int, ctx: WorkflowContext) -> None:
        Waiter.entered.set()
        await asyncio.Event().wait()


async def test_cancel_sends_end_run_only_where_the_allow_list_permits(tmp_path: Path) -> None:
    db = tmp_path / "stepline.db"
    Waiter.entered = asyncio.Event()
    async with await InProcessRunner.open(db) as first:  # registered with any endpoint allowed
        first.host("svc", {"waiter": Waiter})
        first.host("127.0.0.1:7000", {"waiter": Waiter})
        workflow = (
            WorkflowBuilder("w")
            .add_executor("a", "svc", type="waiter")
            .add_executor("b", "127.0.0.1:7000", type="waiter")
            .add_edge("a", "b")
            .set_start_executor("a")
        )
        await first.runner.register_workflow(workflow.build())
        run = await first.runner.start_run("w", payloads.encode(1))
        await Waiter.entered.wait()

    async with await InProcessRunner.open(db) as second:
        # A restart with the default allow-list (loopback only): "svc" is not dialled.
        runner = Runner(second.store, second.executors, allowed=AllowList.of())
        cancelled = await runner.cancel_run(run.run_id)
        await runner.close()
    assert cancelled.status == E.RUN_STATUS_CANCELLED
    assert [c for c in second.executors.calls if c[1] == "EndRun"] == [("127.0.0.1:7000", "EndRun")]
