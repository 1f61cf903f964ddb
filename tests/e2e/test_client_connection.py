"""What a `RunnerClient` does on a user's "try, start the runner, try again":
a client made after the runner came up reaches it with its first call, even
where an earlier client in the same process failed to connect to that
address and is still backing off."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepline import NotFoundError, RunnerClient, UnavailableError
from tests.support.processes import free_port, start_runner

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_a_new_client_reaches_a_runner_an_earlier_client_found_down(
    tmp_path: Path,
) -> None:
    port = free_port()
    address = f"127.0.0.1:{port}"
    async with RunnerClient(address) as early:
        with pytest.raises(UnavailableError):
            await early.get_run("r1")  # nothing listens there yet
        async with (
            await start_runner(tmp_path / "stepline.db", port),
            RunnerClient(address) as fresh,
        ):
            # Reached the runner at once. Before, it shared the early client's
            # failed connection and failed UNAVAILABLE until that one's backoff ended.
            with pytest.raises(NotFoundError):
                await fresh.get_run("r1")
            # The early client itself fails fast until its own next attempt
            # (at most a second away); `wait_for_ready` waits for that.
            await early.wait_for_ready(30)
            with pytest.raises(NotFoundError):
                await early.get_run("r1")
