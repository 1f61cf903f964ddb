"""`RunnerServer.stop` goes through every step when one fails: a runner
whose close failed still closes its store (else its threads kept the process
alive, holding the database's lock), and says what failed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from stepline_runner.api.server import start_runner
from stepline_runner.store.sqlite import DatabaseInUse

pytestmark = pytest.mark.asyncio


def fail_after(monkeypatch: pytest.MonkeyPatch, owner: object, name: str, why: str) -> None:
    """`owner.name()` does what it did, then raises RuntimeError(why)."""
    real: Callable[[], Awaitable[None]] = getattr(owner, name)

    async def failing() -> None:
        await real()
        raise RuntimeError(why)

    monkeypatch.setattr(owner, name, failing)


async def test_a_failing_close_still_releases_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "stepline.db"
    server = await start_runner(db, port=0)
    with pytest.raises(DatabaseInUse):
        await start_runner(db, port=0)  # the lock is held while it runs
    fail_after(monkeypatch, server.runner, "close", "a bug in the runner's close")
    with pytest.raises(RuntimeError, match="a bug in the runner's close"):
        await server.stop()

    again = await start_runner(db, port=0)  # the store was closed all the same
    fail_after(monkeypatch, again.runner, "close", "a bug in the runner's close")
    fail_after(monkeypatch, again.executors, "close", "a bug in the executor channels")
    with pytest.raises(BaseExceptionGroup) as both:
        await again.stop()
    last = await start_runner(db, port=0)
    await last.stop()

    assert [str(e) for e in both.value.exceptions] == [
        "a bug in the runner's close",
        "a bug in the executor channels",
    ]
