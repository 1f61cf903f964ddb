"""`RunnerServer.stop` goes through every step when one fails: a runner
whose close failed still closes its store (else its threads kept the process
alive, holding the database's lock), and says what failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepline_runner.api.server import start_runner
from stepline_runner.store.sqlite import DatabaseInUse

pytestmark = pytest.mark.asyncio


async def test_a_failing_close_still_releases_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "stepline.db"
    server = await start_runner(db, port=0)
    with pytest.raises(DatabaseInUse):
        await start_runner(db, port=0)  # the lock is held while it runs

    async def failing_close() -> None:
        raise RuntimeError("a bug in the runner's close")

    monkeypatch.setattr(server.runner, "close", failing_close)
    with pytest.raises(RuntimeError, match="a bug in the runner's close"):
        await server.stop()
    after = await start_runner(db, port=0)
    await after.stop()
