"""Principals for tests of namespaces: an auth configuration file naming them
by token, and clients that call as one of them in one namespace."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from stepline import RunnerClient
from tests.executors.approvals import approval
from tests.support.cluster import Cluster


@dataclass(frozen=True)
class Tenant:
    """A principal of the test configuration: its name, token and roles."""

    name: str
    roles: dict[str, str]

    @property
    def token(self) -> str:
        return f"token-of-{self.name}"


READER = Tenant("reader-a", {"team-a": "reader"})
OPERATOR = Tenant("operator-a", {"team-a": "operator"})
ADMIN = Tenant("admin-a", {"team-a": "admin"})
OTHER = Tenant("admin-b", {"team-b": "admin"})  # a principal of another namespace
EVERYWHERE = Tenant("root", {"*": "admin"})
TENANTS = (READER, OPERATOR, ADMIN, OTHER, EVERYWHERE)


def write_auth_config(directory: Path, tenants: tuple[Tenant, ...] = TENANTS) -> Path:
    """The file for --auth-config (JSON, which YAML reads too)."""
    principals = [
        {
            "name": t.name,
            "token_sha256": hashlib.sha256(t.token.encode()).hexdigest(),
            "roles": t.roles,
        }
        for t in tenants
    ]
    path = directory / "auth.json"
    path.write_text(json.dumps({"principals": principals}))
    return path


@contextlib.asynccontextmanager
async def tenant_cluster(tmp: Path, *scripts: str) -> AsyncIterator[Cluster]:
    """A cluster of `scripts` whose runner knows the TENANTS (--auth-config),
    with team-a's "orders" approval workflow on its first service registered
    by team-a's admin; closed on leaving."""
    options = ["--auth-config", str(write_auth_config(tmp))]
    cluster = await Cluster.start(tmp, *scripts, runner_options=options)
    try:
        admin = client_as(cluster, ADMIN, "team-a")
        await admin.register_workflow(approval("orders", cluster.addresses[0]))
        yield cluster
    finally:
        await cluster.close()


def client_as(cluster: Cluster, tenant: Tenant | None, namespace: str) -> RunnerClient:
    """A client of the cluster's runner calling as `tenant` (None: without
    credentials) in `namespace`, closed with the cluster."""
    client = RunnerClient(
        cluster.runner.address, token=tenant.token if tenant else None, namespace=namespace
    )
    cluster.clients.append(client)
    return client
