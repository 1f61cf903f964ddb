"""Schedules among tenants, against real processes: `--limit schedules` holds
per namespace (a tenant at its cap locks no other out, and two runners
sharing a PostgreSQL database cannot both create the last one), and the runs
a schedule starts name its principal and have that principal's rights as the
runner's auth configuration gives them now."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
import pytest_asyncio

from stepline import RunnerClient, SteplineError
from stepline.v1 import events_pb2 as E
from stepline.v1 import runner_pb2 as R
from tests.executors.approvals import Order, approval
from tests.support.cluster import Cluster
from tests.support.postgres import TemporaryPostgres
from tests.support.processes import start_executors
from tests.support.runners import Runners
from tests.support.tenants import (
    ADMIN,
    EVERYWHERE,
    OPERATOR,
    OTHER,
    TENANTS,
    client_as,
    write_auth_config,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

LIMIT = 3
NAMESPACES = [f"team-{i}" for i in range(11)]  # of the two runners' test: one more than fits
ORDER = Order("o-1", 5)
FULL = (
    f"namespace 'team-a' holds {LIMIT} schedules, as many as the runner allows a namespace; "
    "delete some (or raise the runner's --limit schedules=N)"
)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    tmp = tmp_path_factory.mktemp("schedule-tenants")
    options = ["--auth-config", str(write_auth_config(tmp)), "--limit", f"schedules={LIMIT}"]
    cluster = await Cluster.start(tmp, "approvals", runner_options=options, fixed_ports=True)
    try:
        for tenant, namespace in ((ADMIN, "team-a"), (OTHER, "team-b")):
            admin = client_as(cluster, tenant, namespace)
            await admin.register_workflow(approval("orders", cluster.addresses[0]))
        yield cluster
    finally:
        await cluster.close()


async def refused(call: Awaitable[R.Schedule]) -> SteplineError:
    with pytest.raises(SteplineError) as error:
        await call
    return error.value


async def test_a_namespace_at_its_cap_locks_no_other_out(cluster: Cluster) -> None:
    mine = client_as(cluster, OPERATOR, "team-a")
    theirs = client_as(cluster, OTHER, "team-b")
    for i in range(LIMIT):
        await mine.create_schedule(f"y{i}", "orders", ORDER, cron="@yearly")

    full = await refused(mine.create_schedule("one-more", "orders", ORDER, cron="@yearly"))
    # Team-b creates as many of its own: team-a's do not count for it.
    for i in range(LIMIT):
        await theirs.create_schedule(f"y{i}", "orders", ORDER, cron="@yearly")
    taken = await refused(mine.create_schedule("y0", "orders", ORDER, cron="@yearly"))
    await mine.delete_schedule("y0")
    await mine.create_schedule("one-more", "orders", ORDER, cron="@yearly")

    assert (full.code, full.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "TOO_MANY_SCHEDULES")
    assert str(full) == FULL  # names team-a's limit, nothing of team-b's
    assert dict(full.metadata) == {"namespace": "team-a", "limit": str(LIMIT)}
    assert taken.reason == "SCHEDULE_EXISTS"  # a taken id is not "full"
    assert sorted([s.spec.schedule_id async for s in mine.list_schedules()]) == [
        "one-more",
        "y1",
        "y2",
    ]
    for client, ids in ((mine, ["one-more", "y1", "y2"]), (theirs, ["y0", "y1", "y2"])):
        for schedule_id in ids:
            await client.delete_schedule(schedule_id)


async def test_the_runner_holds_ten_namespaces_worth_of_schedules_in_all(
    cluster: Cluster,
) -> None:
    """Review S3: namespaces are any number (an open runner, a role on "*"),
    and the scheduler holds every schedule's moment in memory: past ten
    namespaces' worth in all, a creation in any namespace is refused."""
    root = {n: client_as(cluster, EVERYWHERE, n) for n in (f"many-{i}" for i in range(11))}
    for namespace, client in root.items():
        await client.register_workflow(approval("orders", cluster.addresses[0]))
        for i in range(LIMIT if namespace != "many-10" else 0):
            await client.create_schedule(f"y{i}", "orders", ORDER, cron="@yearly")
    full = await refused(root["many-10"].create_schedule("y0", "orders", ORDER, cron="@yearly"))
    await root["many-0"].delete_schedule("y0")
    await root["many-10"].create_schedule("y0", "orders", ORDER, cron="@yearly")
    for client in root.values():
        for schedule in [s async for s in client.list_schedules()]:
            await client.delete_schedule(schedule.spec.schedule_id)

    assert (full.code, full.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "TOO_MANY_SCHEDULES")
    assert str(full) == (
        f"the runner holds {10 * LIMIT} schedules in all, as many as it allows (ten times "
        "--limit schedules=N, at most 1000000); delete some, or ask its operator"
    )
    assert dict(full.metadata) == {"limit": str(10 * LIMIT)}  # no namespace of the others


async def started_by(client: RunnerClient, schedule_id: str, count: int) -> list[E.Event]:
    """The next `count` RUN_STARTED events of the schedule's runs."""
    found: list[E.Event] = []
    async for event in client.watch_all(kinds=[E.EVENT_KIND_RUN_STARTED]):
        if event.run_id.startswith(f"{schedule_id}-"):
            found.append(event)
            if len(found) == count:
                return found
    raise AssertionError("the stream ended")


async def test_scheduled_runs_name_the_schedule_s_principal(cluster: Cluster) -> None:
    operator = client_as(cluster, OPERATOR, "team-a")
    admin = client_as(cluster, ADMIN, "team-a")
    watching = asyncio.ensure_future(started_by(admin, "tick", 1))
    created = await operator.create_schedule(
        "tick", "orders", ORDER, interval=timedelta(seconds=1), overlap="allow"
    )
    (first,) = await asyncio.wait_for(watching, 60)
    await admin.pause_schedule("tick")
    watching = asyncio.ensure_future(started_by(operator, "tick", 1))
    resumed = await admin.resume_schedule("tick")
    (later,) = await asyncio.wait_for(watching, 60)
    await admin.pause_schedule("tick")

    assert created.principal == "operator-a" and resumed.principal == "admin-a"
    assert (first.principal, later.principal) == ("operator-a", "admin-a")
    assert (await operator.get_schedule("tick")).principal == "admin-a"
    await admin.delete_schedule("tick")


async def test_a_fire_needs_the_principal_s_role_as_it_is_now(cluster: Cluster) -> None:
    """The runner restarts with operator-a demoted to reader: its schedule
    starts nothing more, each fire time skipped saying why."""
    operator = client_as(cluster, OPERATOR, "team-a")
    watching = asyncio.ensure_future(started_by(operator, "demoted", 1))
    await operator.create_schedule(
        "demoted", "orders", ORDER, interval=timedelta(seconds=1), overlap="allow"
    )
    await asyncio.wait_for(watching, 60)
    demoted = tuple(replace(t, roles={"team-a": "reader"}) if t is OPERATOR else t for t in TENANTS)
    (cluster.tmp / "demoted").mkdir()
    config = write_auth_config(cluster.tmp / "demoted", demoted)
    cluster.runner_options = ("--auth-config", str(config), "--limit", f"schedules={LIMIT}")
    await cluster.restart_runner()  # SIGKILL; the same database and port
    admin = client_as(cluster, ADMIN, "team-a")
    await admin.wait_for_ready()
    before = sorted([r.run_id async for r in admin.list_runs("orders")])
    skipped = (await admin.get_schedule("demoted")).fires_skipped

    # Two more fire times (a second apart) skipped. A skip is no event: its
    # record is all there is to look at.
    async with asyncio.timeout(60):
        while (schedule := await admin.get_schedule("demoted")).fires_skipped < skipped + 2:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    after = sorted([r.run_id async for r in admin.list_runs("orders")])
    await admin.delete_schedule("demoted")

    assert "StartRun needs the operator role in namespace 'team-a'" in schedule.last_skip_reason
    assert "principal 'operator-a' is reader there" in schedule.last_skip_reason
    assert after == before  # no run started on operator-a's behalf since


async def restarted(cluster: Cluster, *auth: str) -> None:
    """SIGKILL the runner; start it again on the same database and port with
    `auth` (none: open, everyone admin everywhere)."""
    cluster.runner_options = (*auth, "--limit", f"schedules={LIMIT}")
    await cluster.restart_runner()
    await client_as(cluster, EVERYWHERE if auth else None, "team-a").wait_for_ready()


async def next_outcome(client: RunnerClient, schedule_id: str) -> R.Schedule:
    """The schedule once a fire time after now started a run or was refused."""
    before = (await client.get_schedule(schedule_id)).runs_started
    async with asyncio.timeout(60):
        while True:
            schedule = await client.get_schedule(schedule_id)
            if schedule.runs_started > before or "refused" in schedule.last_skip_reason:
                return schedule
            await asyncio.sleep(0.1)


async def test_a_restart_with_auth_or_without_judges_schedules_as_callers_now(
    cluster: Cluster,
) -> None:
    """A schedule created on the runner without auth names no principal:
    restarted with an auth configuration that lets no caller without
    credentials start runs, it starts nothing more, saying why. Admin-a's
    schedule, on the runner restarted open, goes on: everyone may there."""
    admin = client_as(cluster, ADMIN, "team-a")
    second = timedelta(seconds=1)
    await admin.create_schedule("named", "orders", ORDER, interval=second, overlap="allow")
    await restarted(cluster)
    anonymous = client_as(cluster, None, "team-a")
    named = await next_outcome(anonymous, "named")
    await anonymous.create_schedule("anon", "orders", ORDER, interval=second, overlap="allow")
    created = await next_outcome(anonymous, "anon")
    await restarted(cluster, "--auth-config", str(write_auth_config(cluster.tmp)))
    before = sorted([r.run_id async for r in admin.list_runs("orders")])
    anon = await next_outcome(admin, "anon")
    after = sorted([r.run_id async for r in admin.list_runs("orders")])
    for schedule_id in ("named", "anon"):
        await admin.delete_schedule(schedule_id)

    # Before the fix: refused, "principal 'admin-a' is not in the runner's auth configuration".
    # (A fire time the restart took too long for reads "missed": not a refusal.)
    assert "refused" not in named.last_skip_reason and named.principal == "admin-a"
    assert created.principal == "" and created.runs_started >= 1
    # Before the fix: its runs went on starting on nobody's behalf.
    assert anon.last_skip_reason.endswith(
        "was refused: the schedule names no principal (it was created on a runner without "
        "auth), and callers without credentials may not start runs here; pause the schedule "
        "and resume it as a principal who may"
    )
    assert [r for r in before if "anon-" in r]  # it started runs while the runner was open
    assert [r for r in after if "anon-" in r] == [r for r in before if "anon-" in r]


@pytest_asyncio.fixture(loop_scope="module")
async def two_runners(
    postgres_server: TemporaryPostgres, tmp_path: Path
) -> AsyncIterator[tuple[RunnerClient, RunnerClient]]:
    approvals = await start_executors("approvals")
    runners = Runners(postgres_server.new_database(), tmp_path)
    try:
        limit = ("--limit", f"schedules={LIMIT}")
        pair = (await runners.start(*limit), await runners.start(*limit))
        for namespace in NAMESPACES:
            async with RunnerClient(pair[0].address, namespace=namespace) as admin:
                await admin.register_workflow(approval("orders", approvals.address))
        yield pair
    finally:
        await runners.close()
        await approvals.kill()


async def test_two_runners_on_one_database_cannot_both_create_the_last_one(
    two_runners: tuple[RunnerClient, RunnerClient],
) -> None:
    """Each runner counts the namespace's schedules, and all of them, in the
    database; creations sent to both at once in eleven namespaces: in none do
    more than the cap land, nor more than ten namespaces' worth in all."""
    calls = []
    for namespace in NAMESPACES:
        for i, runner in enumerate(two_runners):
            client = RunnerClient(runner.address, namespace=namespace)
            for j in range(LIMIT):
                calls.append((client, f"s{i}-{j}"))
    results = await asyncio.gather(
        *(c.create_schedule(s, "orders", ORDER, cron="@yearly") for c, s in calls),
        return_exceptions=True,
    )
    for client, _ in calls:
        await client.close()

    errors = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(e, SteplineError) for e in errors), errors
    assert {e.reason for e in errors if isinstance(e, SteplineError)} == {"TOO_MANY_SCHEDULES"}
    held = {}
    for namespace in NAMESPACES:
        client = RunnerClient(two_runners[0].address, namespace=namespace)
        held[namespace] = len([s async for s in client.list_schedules()])
        await client.close()
    assert max(held.values()) == LIMIT and sum(held.values()) == 10 * LIMIT, held
