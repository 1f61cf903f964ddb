"""A PostgreSQL server that goes away under a running runner: callers get
UNAVAILABLE (reason STORE_UNAVAILABLE) saying to try again, the runner goes
on serving, and once the server is back a run caught in the middle goes on
from its last checkpoint by itself."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from stepline import RunnerClient, SteplineError
from stepline.reasons import Reason
from stepline.testing import start_executor_service, start_runner
from stepline.v1 import events_pb2 as E
from tests.e2e.test_store_failures import STAGES, wait_for_line
from tests.executors.stages import Token
from tests.support.postgres import TemporaryPostgres
from tests.support.processes import ROOT
from tests.support.runs import stage_loop


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
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    log = tmp_path_factory.mktemp("outage") / "runner.log"
    # A server of its own, to stop; durable, as a real one (the tests' is not).
    with TemporaryPostgres(settings=()) as server:
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
