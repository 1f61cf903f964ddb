"""Work on a run that goes on past its caller (`Joined`) is settled at close:
waited for, and what it ended in logged. An answer its caller would have had
(the run ended meanwhile, or was deleted) is not logged as an error; a
failure is, with its run."""

from __future__ import annotations

import asyncio
import logging

import pytest

from stepline_runner.engine.errors import FailedPrecondition, NotFound, Reason
from stepline_runner.engine.stops import Joined


async def test_settle_waits_for_all_and_logs_only_failures_as_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    joined: Joined[None] = Joined()
    gate = asyncio.Event()
    finished: list[str] = []

    def work(run_id: str, error: Exception | None) -> None:
        async def go() -> None:
            await gate.wait()
            finished.append(run_id)
            if error is not None:
                raise error

        callers.append(asyncio.ensure_future(joined.run(run_id, go)))

    callers: list[asyncio.Future[None]] = []
    work("ended", FailedPrecondition("run 'ended' ended", reason=Reason.RUN_ENDED))
    work("deleted", NotFound("no run 'deleted'", reason=Reason.RUN_NOT_FOUND))
    work("broken", RuntimeError("the store broke"))
    work("fine", None)
    await asyncio.sleep(0)
    for caller in callers:
        caller.cancel()  # the callers give up; the work goes on

    with caplog.at_level(logging.INFO, logger="stepline_runner.engine.stops"):
        settling = asyncio.ensure_future(joined.settle())
        await asyncio.sleep(0)
        assert not settling.done()
        gate.set()
        await asyncio.wait_for(settling, 5)

    assert sorted(finished) == ["broken", "deleted", "ended", "fine"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["work on run 'broken' failed as the runner stopped"]
    infos = sorted(r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    assert infos == [
        "work on run 'deleted' as the runner stopped: no run 'deleted'",
        "work on run 'ended' as the runner stopped: run 'ended' ended",
    ]
