"""`stepline-runner copy-store SQLITE POSTGRESQL_URL`: a SQLite database of
finished, forked, retained and waiting runs copied into PostgreSQL, checked
run by run; the copy goes on where the file stopped (a waiting run answered,
new runs and versions after the copied ones); a non-empty target refused
unless --replace; a copy that differs is caught, naming the run."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from stepline import payloads
from stepline.testing import InProcessRunner, outputs
from stepline.v1 import events_pb2 as E
from stepline_runner.store import SqliteStore
from stepline_runner.store.copying import compare
from stepline_runner.store.postgres import PostgresStore
from tests.support.postgres import TemporaryPostgres
from tests.support.processes import ROOT
from tests.support.runs import self_loop
from tests.support.stores import execute, rows
from tests.unit.asker import Asker, asking
from tests.unit.countdown import Counter
from tests.unit.plateau import Plateau, plateau_loop

TYPES = {"counter": Counter, "asker": Asker, "plateau": Plateau}


async def copy_store(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "stepline_runner", "copy-store", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def waiting(runner: InProcessRunner, run_id: str) -> None:
    async for batch in runner.runner.watch(run_id, follow_after_end=True):
        if any(e.status == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS for e in batch):
            return


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with runs of every kind, made by the engine itself."""
    db = tmp_path_factory.mktemp("copy") / "stepline.db"

    async def fill() -> None:
        async with await InProcessRunner.open(db) as env:
            env.host("svc", TYPES)
            await env.runner.register_workflow(self_loop("count", "c", "counter").build())
            await env.runner.register_workflow(self_loop("count", "c", "counter").build())
            await env.runner.register_workflow(plateau_loop(keep_last=2))
            await env.runner.register_workflow(asking())
            for n in range(3):
                await env.run("count", 3 + n, f"count-{n}")
            checkpoints, _ = await env.runner.list_checkpoints("count-2", 0, "")
            fork = await env.runner.resume(checkpoints[2].checkpoint_id, fork=True)
            await env.events(fork.run_id)
            await env.runner.delete_checkpoint(checkpoints[1].checkpoint_id)
            await env.run("w", 0, "retained")  # keeps its last 2 checkpoints
            run = await env.runner.start_run("ask", payloads.encode(5), "asking")
            await waiting(env, run.run_id)

    asyncio.run(fill())
    return db


async def test_a_copy_is_checked_run_by_run_and_goes_on_where_the_file_stopped(
    source: Path, postgres_server: TemporaryPostgres
) -> None:
    target = postgres_server.new_database()

    code, out, err = await copy_store(str(source), target)

    assert code == 0, err
    assert "checked 6 runs" in out and "and 3 workflows (4 versions): all match" in out
    for table in ("runs", "events", "checkpoints", "checkpoint_states"):
        assert rows(source, f"SELECT count(*) FROM {table}") == rows(
            target, f"SELECT count(*) FROM {table}"
        ), table
    # The small states SQLite keeps in their references are blobs in PostgreSQL, once each.
    inline = "SELECT blob_hash FROM checkpoint_states WHERE data IS NOT NULL"
    states = rows(source, f"SELECT count(*) FROM (SELECT hash FROM blobs UNION {inline})")
    assert states == rows(target, "SELECT count(*) FROM blobs") != [(0,)]
    async with await InProcessRunner.open(target) as env:
        env.host("svc", TYPES)
        (request,) = await env.runner.pending_requests("asking")
        await env.runner.send_responses("asking", {request.request_id: payloads.encode(2)})
        assert outputs(await env.events("asking")) == [7]
        _, version = await env.runner.register_workflow(asking())
        assert version == 2  # after the copied version
        await env.run("count", 2, "after")
        runs, _ = await env.runner.list_runs("", 0, "")
        assert runs[0].run_id == "after" and len(runs) == 7  # newest first


async def test_a_non_empty_target_is_refused_unless_replace(
    source: Path, postgres_server: TemporaryPostgres
) -> None:
    target = postgres_server.new_database()
    assert (await copy_store(str(source), target))[0] == 0

    code, _, err = await copy_store(str(source), target)
    assert code == 2
    assert "already holds 6 runs and 3 workflows" in err and "--replace" in err
    assert err.count("\n") == 1 and "Traceback" not in err

    code, out, err = await copy_store(str(source), target, "--replace")
    assert code == 0, err
    assert "all match" in out
    assert rows(target, "SELECT count(*) FROM runs") == [(6,)]


async def test_bad_arguments_are_refused_in_one_line(tmp_path: Path) -> None:
    code, _, err = await copy_store(str(tmp_path / "missing.db"), "postgresql://h/db")
    assert code == 2 and "is not a file" in err
    (tmp_path / "a.db").touch()
    code, _, err = await copy_store(str(tmp_path / "a.db"), str(tmp_path / "b.db"))
    assert code == 2 and "must be a postgresql:// URL" in err
    code, _, err = await copy_store(str(tmp_path / "a.db"), "postgresql://u:s3cret@127.0.0.1:1/x")
    assert code == 2 and "Connection refused" in err and "s3cret" not in err


async def test_a_copy_that_differs_is_named_run_by_run(
    source: Path, postgres_server: TemporaryPostgres
) -> None:
    target = postgres_server.new_database()
    assert (await copy_store(str(source), target))[0] == 0
    execute(target, "DELETE FROM events WHERE run_id = 'count-0' AND sequence = 3")
    execute(target, "UPDATE checkpoints SET superstep = 99 WHERE run_id = 'retained'")
    execute(target, "DELETE FROM runs WHERE run_id = 'asking'")

    lite = await SqliteStore.open(source)
    postgres = await PostgresStore.open(target)
    try:
        result = await compare(lite, postgres)
    finally:
        await postgres.close()
        await lite.close()

    assert sorted(result.differences) == [
        "run asking: missing from the target",
        "run count-0: its events differ",
        "run retained: its checkpoints differ",
    ]
