"""A runner that follows another's SQLite file (`--follow`), real processes:
its watchers see every event the owner commits, once, in order, as the
owner's watchers do, across the owner's death and restart; it changes
nothing, and it refuses to start on what it cannot follow."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from stepline import RunnerClient
from stepline.errors import FailedPreconditionError
from stepline.reasons import Reason
from stepline.testing import start_runner
from stepline.v1 import events_pb2 as E
from stepline_runner.api.server import start_runner as serve
from stepline_runner.store.sqlite import SqliteStore
from tests.executors.stages import Token
from tests.support.cluster import Cluster, cluster_fixture
from tests.support.processes import ROOT, Service, refused_start
from tests.support.runs import assert_exact_log, stage_loop, until_superstep

pytestmark = pytest.mark.asyncio(loop_scope="module")

STEPS = 30
WATCHERS = 20

cluster = cluster_fixture("stages", "stages", scope="module", fixed_ports=True)


async def follower_of(cluster: Cluster) -> Service:
    return await start_runner(cluster.db, 0, "--follow", cwd=ROOT)


async def watched(client: RunnerClient, run_id: str) -> list[E.Event]:
    return [event async for event in client.watch(run_id)]


async def test_watchers_of_a_follower_see_what_the_owners_watchers_see(cluster: Cluster) -> None:
    owner = cluster.client()
    await owner.register_workflow(stage_loop("followed", cluster.addresses, STEPS + 10))
    service = await follower_of(cluster)
    try:
        async with RunnerClient(service.address) as follower:
            run = await owner.start_run(
                "followed", Token(value=1, hops=0, limit=STEPS, delay_ms=10)
            )
            here = [asyncio.create_task(watched(follower, run.run_id)) for _ in range(WATCHERS)]
            there = asyncio.create_task(watched(owner, run.run_id))
            async with asyncio.timeout(60):
                seen, reference = await asyncio.gather(asyncio.gather(*here), there)
            # Its reads are the owner's file: the run as the owner has it.
            assert await follower.get_run(run.run_id) == await owner.get_run(run.run_id)
    finally:
        await service.terminate()
    assert_exact_log(reference)
    assert reference[-1].status == E.RUN_STATUS_COMPLETED
    wire = [e.SerializeToString() for e in reference]
    assert all([e.SerializeToString() for e in events] == wire for events in seen)


async def test_a_followers_watcher_follows_the_run_across_the_owners_death(
    cluster: Cluster,
) -> None:
    owner = cluster.client()
    await owner.register_workflow(stage_loop("survives", cluster.addresses, STEPS + 10))
    service = await follower_of(cluster)
    try:
        async with RunnerClient(service.address) as follower:
            token = Token(value=2, hops=0, limit=STEPS, delay_ms=20)
            run = await owner.start_run("survives", token)
            watch = asyncio.create_task(watched(follower, run.run_id))
            await until_superstep(follower, run.run_id, 6)
            await cluster.kill_runner()  # SIGKILL: the follower serves on alone
            stored = await follower.get_run(run.run_id)
            assert stored.status == E.RUN_STATUS_RUNNING
            await cluster.start_runner()  # resumes the run from its checkpoint
            async with asyncio.timeout(60):
                events = await watch
            result = await cluster.client().wait(run.run_id, timeout=60)
    finally:
        await service.terminate()
    assert_exact_log(events)
    assert [e.SerializeToString() for e in events] == [e.SerializeToString() for e in result.events]
    assert E.EVENT_KIND_RUN_RESUMED in {e.kind for e in events}


async def test_a_follower_changes_nothing(cluster: Cluster) -> None:
    owner = cluster.client()
    await owner.register_workflow(stage_loop("kept", cluster.addresses, STEPS + 10))
    done = await owner.run("kept", Token(value=3, hops=0, limit=3))
    service = await follower_of(cluster)
    try:
        async with RunnerClient(service.address) as follower:
            before = await follower.get_run(done.run.run_id)
            with pytest.raises(FailedPreconditionError, match="read-only") as refused:
                await follower.delete_run(done.run.run_id)
            assert refused.value.reason == Reason.READ_ONLY
            with pytest.raises(FailedPreconditionError, match="cannot watch all runs"):
                async for _ in follower.watch_all():
                    pass
            with pytest.raises(FailedPreconditionError, match="StartRun would change it"):
                await follower.start_run("kept", Token(value=4, hops=0, limit=3))
            assert await owner.get_run(done.run.run_id) == before
            assert [r.run_id async for r in owner.list_runs("kept")] == [done.run.run_id]
    finally:
        await service.terminate()


async def test_a_follower_refuses_what_it_cannot_follow_in_one_line(tmp_path: Path) -> None:
    older = tmp_path / "older.db"
    with sqlite3.connect(older) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA user_version = 2")
    cases = {
        ("--db", str(tmp_path / "missing.db")): "missing.db does not exist",
        ("--db", str(older)): "has schema version 2, this runner reads",
        ("--db", "postgresql://u@h/d"): "runners share a PostgreSQL database by --lease-seconds",
        ("--db", str(older), "--delete-finished-after", "1d"): "--delete-finished-after would",
        ("--db", str(older), "--durability", "full"): "--durability full would do nothing",
        ("--db", str(older), "--metrics-port", "0"): "--metrics-port would do nothing",
    }
    for args, says in cases.items():
        code, stderr = await refused_start("--port", "0", "--follow", *args)
        assert code == 2, stderr
        assert len(stderr.splitlines()) == 1 and says.encode() in stderr, stderr


async def test_a_follower_whose_file_is_replaced_stops_saying_why(tmp_path: Path) -> None:
    db, log = tmp_path / "runs.db", tmp_path / "follower.log"
    await (await SqliteStore.open(db)).close()
    service = await start_runner(db, 0, "--follow", log=log, cwd=ROOT)
    db.rename(tmp_path / "elsewhere.db")  # a restore from a backup would do this too
    async with asyncio.timeout(30):
        code = await service.process.wait()
    assert code == 2
    assert log.read_text().splitlines()[-1] == (
        f"stepline-runner: stopped following: {db} was replaced or removed since this "
        "runner opened it"
    )


async def test_an_embedded_follower_whose_file_is_replaced_says_not_serving(
    tmp_path: Path,
) -> None:
    db = tmp_path / "runs.db"
    await (await SqliteStore.open(db)).close()
    server = await serve(db, follow=True)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            statuses = health.Watch(health_pb2.HealthCheckRequest(service=""))
            async with asyncio.timeout(30):
                assert (
                    await anext(aiter(statuses))
                ).status == health_pb2.HealthCheckResponse.SERVING
                db.rename(tmp_path / "elsewhere.db")
                changed = await anext(aiter(statuses))
            assert changed.status == health_pb2.HealthCheckResponse.NOT_SERVING
            assert server.store.lost.is_set()  # type: ignore[attr-defined]
    finally:
        await server.stop()
