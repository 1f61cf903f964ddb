"""The runner process on PostgreSQL (`--store postgresql://...`): runs killed
with the runner (SIGKILL) resume by themselves from the database and end as
an uninterrupted run does; its metrics count the database's runs; a store it
cannot use stops it at start-up with a line that says why, without the URL's
password."""

from __future__ import annotations

import asyncio
import random
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from stepline import RunnerClient, RunResult, payloads
from stepline.v1 import events_pb2 as E
from tests.executors.stages import Token
from tests.support.cluster import Cluster
from tests.support.postgres import TemporaryPostgres
from tests.support.processes import refused_start
from tests.support.runs import assert_exact_log, stage_loop, until_superstep
from tests.support.stores import rows

pytestmark = pytest.mark.asyncio(loop_scope="module")

STEPS = 30
TOKEN = Token(value=7, hops=0, limit=STEPS, delay_ms=2)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def on_postgres(
    postgres_server: TemporaryPostgres, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Cluster]:
    cluster = await Cluster.start(
        tmp_path_factory.mktemp("pg"),
        "stages",
        "stages",
        fixed_ports=True,
        store=postgres_server.new_database(),
        runner_options=("--metrics-port", "0"),
    )
    try:
        yield cluster
    finally:
        await cluster.close()


async def final(client: RunnerClient, result: RunResult) -> tuple[list[Any], dict[str, Any]]:
    states = await client.get_checkpoint_states(result.run.latest_checkpoint_id)
    return [payloads.json_value(p) for p in result.outputs], states


async def test_runs_killed_with_the_runner_resume_from_postgres(on_postgres: Cluster) -> None:
    client = on_postgres.client()
    await client.register_workflow(stage_loop("pg", on_postgres.addresses, STEPS + 10))
    reference = await final(client, await client.run("pg", TOKEN))
    rng = random.Random(19)

    for _ in range(4):
        runs = [await client.start_run("pg", TOKEN) for _ in range(3)]
        await until_superstep(client, runs[0].run_id, rng.randint(2, STEPS - 5))
        await on_postgres.restart_runner()  # SIGKILL, then a new runner on the same database
        await client.wait_for_ready()
        for run in runs:
            result = await client.wait(run.run_id)
            assert result.run.status == E.RUN_STATUS_COMPLETED
            assert_exact_log(result.events)
            assert await final(client, result) == reference

    # What the clients saw is what the database holds: 13 runs, each log whole.
    counts = rows(on_postgres.store, "SELECT count(*), sum(last_sequence) FROM runs")
    events = rows(on_postgres.store, "SELECT count(*) FROM events")
    assert counts[0][0] == 13 and counts[0][1] == events[0][0]


async def test_its_metrics_count_the_runs_in_the_database(on_postgres: Cluster) -> None:
    port = on_postgres.runner.metrics_port

    def fetch() -> str:
        url = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            return str(response.read().decode())

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(await asyncio.to_thread(fetch))
        for s in family.samples
    }

    completed = rows(
        on_postgres.store, f"SELECT count(*) FROM runs WHERE status = {E.RUN_STATUS_COMPLETED}"
    )
    assert completed[0][0] > 0
    assert samples[("stepline_runs", (("status", "completed"),))] == completed[0][0]
    assert samples[("stepline_database_bytes", ())] > 1_000_000  # the database's pages


async def test_a_second_runner_on_the_same_database_is_refused(on_postgres: Cluster) -> None:
    returncode, stderr = await refused_start("--store", on_postgres.store, "--port", "0")

    assert returncode == 2
    assert b"another runner has postgresql://" in stderr and b"Traceback" not in stderr


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://nobody:s3cret@127.0.0.1:{closed}/x", b"Connection refused"),
        (
            "postgresql://stepline:s3cret@127.0.0.1:{port}/no_such_db",
            b'"no_such_db" does not exist',
        ),
        ("postgresql://u:s3cret@[::1/x", b"not a PostgreSQL URL the runner can use"),
    ],
)
async def test_a_store_it_cannot_use_stops_the_runner_with_one_line(
    postgres_server: TemporaryPostgres, url: str, says: bytes
) -> None:
    port = postgres_server.url("x").rsplit(":", 1)[1].split("/")[0]
    closed = await _closed_port()
    returncode, stderr = await refused_start(
        "--store", url.format(port=port, closed=closed), "--port", "0"
    )

    assert returncode == 2, stderr
    assert says in stderr and stderr.count(b"\n") == 1
    assert b"s3cret" not in stderr and b"Traceback" not in stderr


async def _closed_port() -> int:
    """A loopback port nothing listens on."""
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    server.close()
    await server.wait_closed()
    return port
