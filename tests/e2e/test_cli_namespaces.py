"""The `stepline` command in a namespace (--namespace, STEPLINE_NAMESPACE),
the principal shown on the events of control calls, and `stepline run move`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from tests.executors.approvals import Order, approval
from tests.support.cli import Result, stepline
from tests.support.cluster import Cluster
from tests.support.runs import until_waiting
from tests.support.tenants import (
    ADMIN,
    EVERYWHERE,
    OPERATOR,
    Tenant,
    client_as,
    tenant_cluster,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Setup:
    cluster: Cluster
    tmp: Path

    def token_file(self, tenant: Tenant) -> str:
        path = self.tmp / f"{tenant.name}.token"
        path.write_text(tenant.token + "\n")
        return str(path)

    async def as_(self, tenant: Tenant, *args: str, env: dict[str, str] | None = None) -> Result:
        return await stepline(
            "--token-file", self.token_file(tenant), *args,
            address=self.cluster.runner.address, env=env,
        )  # fmt: skip


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def setup(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Setup]:
    tmp = tmp_path_factory.mktemp("cli-namespaces")
    async with tenant_cluster(tmp, "approvals", "approvals") as cluster:
        yield Setup(cluster, tmp)


async def test_runs_are_started_and_listed_in_the_namespace_given(setup: Setup) -> None:
    started = await setup.as_(
        OPERATOR, "--namespace", "team-a", "run", "start", "orders",
        "--input", '{"id": "o-1", "amount": 5}', "--type", "Order", "--run-id", "c1", "--json",
    )  # fmt: skip
    assert started.code == 0, started.stderr
    env = {"STEPLINE_NAMESPACE": "team-a"}
    listed = await setup.as_(OPERATOR, "run", "list", "--json", env=env)
    elsewhere = await setup.as_(EVERYWHERE, "run", "get", "c1")  # in default

    assert [r["run_id"] for r in listed.json()] == ["c1"]
    assert elsewhere.code == 1 and "NOT_FOUND" in elsewhere.stderr


async def test_events_show_who_did_what(setup: Setup) -> None:
    operator = client_as(setup.cluster, OPERATOR, "team-a")
    await operator.start_run("orders", Order("o-2", 5), run_id="c2")
    await until_waiting(operator, "c2")
    await client_as(setup.cluster, ADMIN, "team-a").cancel_run("c2")

    shown = await setup.as_(OPERATOR, "--namespace", "team-a", "run", "events", "c2")

    lines = shown.stdout.splitlines()
    assert any("RUN_STARTED" in line and line.endswith("by operator-a") for line in lines)
    assert any("CANCELLED" in line and line.endswith("by admin-a") for line in lines)
    assert not any("SUPERSTEP_STARTED" in line and " by " in line for line in lines)


async def test_run_move_pins_runs_to_a_new_version(setup: Setup) -> None:
    operator = client_as(setup.cluster, OPERATOR, "team-a")
    admin = client_as(setup.cluster, ADMIN, "team-a")
    await operator.start_run("orders", Order("o-3", 5), run_id="c3")
    await until_waiting(operator, "c3")
    moved_to = await admin.register_workflow(approval("orders", setup.cluster.addresses[1]))
    version = str(moved_to.version)

    refused = await setup.as_(
        OPERATOR, "--namespace", "team-a", "run", "move", "orders", "c3", "--to-version", version
    )
    moved = await setup.as_(
        ADMIN, "--namespace", "team-a", "run", "move", "orders", "c3", "--to-version", version
    )
    again = await setup.as_(
        ADMIN,
        "--namespace",
        "team-a",
        "run",
        "move",
        "orders",
        "--all",
        "--to-version",
        version,
        "--json",
    )
    neither = await setup.as_(
        ADMIN, "--namespace", "team-a", "run", "move", "orders", "--to-version", version
    )

    assert refused.code == 1 and "PERMISSION_DENIED" in refused.stderr
    assert moved.code == 0 and moved.stdout.strip() == f"moved c3 to version {version}"
    assert "c3" in again.json()["skipped_run_ids"]
    assert neither.code == 2 and "or give --all" in neither.stderr
    run = await operator.get_run("c3")
    assert run.workflow_version == moved_to.version
