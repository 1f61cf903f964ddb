"""A PostgreSQL server that goes away under a running runner: callers get
UNAVAILABLE (reason STORE_UNAVAILABLE) saying to try again, the runner goes
on serving, and once the server is back a run caught in the middle goes on
from its last checkpoint by itself. A runner alone on its database (no
leases) takes the database's lock again after the restart, so a second
runner is still refused; one that took it while the first was away makes the
first stop."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from stepline import RunnerClient, SteplineError
from stepline.reasons import Reason
from stepline.testing import Service, start_executor_service, start_runner
from stepline.v1 import events_pb2 as E
from tests.e2e.test_store_failures import STAGES, wait_for_line
from tests.executors.stages import Token
from tests.support.postgres import TemporaryPostgres
from tests.support.processes import ROOT, refused_start
from tests.support.runs import assert_exact_log, stage_loop, until_superstep


@pytest.fixture(scope="module")
def server() -> Iterator[TemporaryPostgres]:
    """A server of its own, to stop; durable, as a real one (the tests' is not)."""
    with TemporaryPostgres(settings=()) as server:
        yield server


async def answered(client: RunnerClient, run_id: str) -> None:
    """Until the runner reads from the database again (each refusal takes the
    store's wait for a connection, 5 s at most)."""
    async with asyncio.timeout(60):
        while True:
            try:
                await client.get_run(run_id)
                return
            except SteplineError as exc:
                assert exc.reason == Reason.STORE_UNAVAILABLE, exc


async def test_a_server_that_goes_away_is_unavailable_until_it_is_back(
    server: TemporaryPostgres, tmp_path: Path
) -> None:
    log = tmp_path / "runner.log"
    executors = await start_executor_service(STAGES, cwd=ROOT, name="stages")
    runner = await start_runner(server.new_database(), cwd=ROOT, log=log)
    client = RunnerClient(runner.address)
    try:
        await client.register_workflow(stage_loop("chain", [executors.address] * 2))
        # Its first superstep takes 2 s; the server goes away meanwhile.
        caught = await client.start_run("chain", Token(1, 0, 4, delay_ms=2000))
        server.halt()
        await asyncio.to_thread(wait_for_line, log, f"run {caught.run_id}: cannot commit")

        with pytest.raises(SteplineError) as refused:
            await client.start_run("chain", Token(1, 0, 3))
        assert refused.value.code == grpc.StatusCode.UNAVAILABLE
        assert refused.value.reason == Reason.STORE_UNAVAILABLE
        assert "try again shortly" in str(refused.value).lower()

        server.resume()  # the same port: the pool reconnects by itself
        await answered(client, caught.run_id)
        result = await client.wait(caught.run_id)
        assert len(result.outputs) == 1
        resumed = [e for e in result.events if e.kind == E.EVENT_KIND_RUN_RESUMED]
        assert [e.message for e in resumed] == ["the store takes writes again"]
        assert len((await client.run("chain", Token(1, 0, 3))).outputs) == 1
        assert runner.process.returncode is None
    finally:
        await client.close()
        await runner.kill()
        await executors.kill()


async def second_runner_refused(url: str) -> None:
    code, stderr = await refused_start("--db", url, "--port", "0")
    lines = stderr.decode().splitlines()
    assert code == 2 and len(lines) == 1, stderr
    assert "another runner has postgresql://" in lines[0] and "open" in lines[0]


async def test_the_database_lock_is_taken_again_after_a_restart(
    server: TemporaryPostgres, tmp_path: Path
) -> None:
    url = server.new_database()
    executors = await start_executor_service(STAGES, cwd=ROOT, name="stages")
    first_log = tmp_path / "first.log"
    first = await start_runner(url, cwd=ROOT, log=first_log)
    second: Service | None = None
    client = RunnerClient(first.address)
    try:
        await client.register_workflow(stage_loop("chain", [executors.address] * 2, 40))
        await second_runner_refused(url)  # plainly, while the first holds the lock

        run = await client.start_run("chain", Token(1, 0, 12, delay_ms=100))
        await until_superstep(client, run.run_id, 2)
        server.halt()
        server.resume()
        # Not "taking its lock again", which a refused write says meanwhile.
        await asyncio.to_thread(wait_for_line, first_log, "postgres: took ")
        await second_runner_refused(url)  # the first holds it again
        result = await client.wait(run.run_id)  # and went on by itself
        assert result.run.status == E.RUN_STATUS_COMPLETED
        assert_exact_log(result.events)

        # The first is paused across a restart: a second gets the database,
        # and the first, when it wakes, stops instead of driving beside it.
        caught = await client.start_run("chain", Token(1, 0, 12, delay_ms=100))
        await until_superstep(client, caught.run_id, 2)
        first.process.send_signal(signal.SIGSTOP)
        try:
            server.halt()
            server.resume()
            second = await start_runner(url, cwd=ROOT, log=tmp_path / "second.log")
        finally:
            first.process.send_signal(signal.SIGCONT)
        assert await asyncio.wait_for(first.process.wait(), 30) == 2
        said = first_log.read_text()
        assert "another runner took it while the connection holding this runner's lock" in said
        await client.close()
        client = RunnerClient(second.address)
        result = await client.wait(caught.run_id)  # the second drove it on
        assert result.run.status == E.RUN_STATUS_COMPLETED
        assert_exact_log(result.events)
    finally:
        await client.close()
        await first.kill()
        if second is not None:
            await second.kill()
        await executors.kill()
