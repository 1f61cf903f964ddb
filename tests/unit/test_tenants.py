"""`Tenant`, the runner as one namespace sees it, on SQLite and PostgreSQL:
ids of its own (the same id in two namespaces is two objects), lists of its
own, errors in its own words, and no way to name a key of another namespace."""

from __future__ import annotations

import pytest

from stepline import payloads
from stepline.executor import Executor, WorkflowContext, handler
from stepline.testing import InProcessRunner
from stepline_runner.engine.errors import InvalidArgument, NotFound
from stepline_runner.engine.tenancy import Tenant
from tests.support.runs import self_loop
from tests.support.stores import harness_on_both_stores

__all__ = ["harness_on_both_stores"]  # every test here runs on SQLite and PostgreSQL


class Echo(Executor):
    @handler
    async def echo(self, n: int, ctx: WorkflowContext) -> None:
        await ctx.yield_output(n)


@pytest.fixture
async def teams(harness: InProcessRunner) -> tuple[Tenant, Tenant, Tenant]:
    harness.host("svc", {"echo": Echo})
    tenants = tuple(Tenant(harness.runner, ns, f"{ns}-admin") for ns in ("", "team-a", "team-b"))
    for tenant in tenants:
        await tenant.register_workflow(self_loop("w", "e", "echo").build())
    return tenants  # type: ignore[return-value]


async def test_the_same_ids_in_three_namespaces_are_three_runs(
    harness: InProcessRunner, teams: tuple[Tenant, Tenant, Tenant]
) -> None:
    runs = [await t.start_run("w", payloads.encode(i), "r1") for i, t in enumerate(teams)]
    for key in ("r1", "team-a/r1", "team-b/r1"):
        await harness.events(key)

    assert [(r.run_id, r.workflow_id) for r in runs] == [("r1", "w")] * 3
    for tenant in teams:
        listed, _ = await tenant.list_runs("", 0, "")
        workflows, _ = await tenant.list_workflows(0, "")
        assert [r.run_id for r in listed] == ["r1"]
        assert [w.workflow_id for w in workflows] == ["w"]
    everything, _ = await harness.runner.list_runs("", 0, "")
    assert sorted(r.run_id for r in everything) == ["r1", "team-a/r1", "team-b/r1"]


async def test_errors_speak_the_namespace_s_ids_and_keys_cannot_be_named(
    teams: tuple[Tenant, Tenant, Tenant],
) -> None:
    default, team_a, _ = teams
    await team_a.start_run("w", payloads.encode(1), "mine")

    with pytest.raises(NotFound) as missing:
        await team_a.get_run("gone")
    assert str(missing.value) == "no run 'gone'" and missing.value.context == {"run_id": "gone"}
    # From default, a key of team-a is not an id: refused before any lookup.
    with pytest.raises(InvalidArgument):
        await default.get_run("team-a/mine")
    with pytest.raises(InvalidArgument):
        await default.get_workflow("team-a w")
    with pytest.raises(NotFound):  # as for any id no run could have
        await default.delete_run("team-a/mine")
    with pytest.raises(InvalidArgument, match="namespace 'Team' must be"):
        Tenant(team_a._runner, "Team")
