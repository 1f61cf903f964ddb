"""Against real processes: the runner dials only executor endpoints on its
allow-list (loopback by default), refuses others at registration naming its
rules, and says "unreachable" alike whatever answers at an endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import grpc
import pytest
import pytest_asyncio

from stepline import PermissionDeniedError, Reason, RunnerClient, SteplineError
from tests.executors.approvals import Order, approval
from tests.support.cluster import Cluster, cluster_fixture
from tests.support.processes import closed_address, refused_start, start_runner
from tests.support.runs import until_waiting

pytestmark = pytest.mark.asyncio(loop_scope="module")

cluster = cluster_fixture("approvals", scope="module")


async def refusal(call: Awaitable[Any]) -> SteplineError:
    with pytest.raises(SteplineError) as refused:
        await call
    return refused.value


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def not_grpc() -> AsyncIterator[str]:
    """A listener that answers HTTP/1.1, as a web server would."""

    async def answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    "endpoint",
    ["10.1.2.3:7000", "169.254.169.254:80", "evil.example.com:7000", "unix:/tmp/x.sock"],
)
async def test_by_default_only_loopback_is_dialled(cluster: Cluster, endpoint: str) -> None:
    client = cluster.client()

    refused = await refusal(client.register_workflow(approval("outside", endpoint)))

    assert isinstance(refused, PermissionDeniedError)
    assert (refused.code, refused.reason) == (
        grpc.StatusCode.PERMISSION_DENIED,
        Reason.ENDPOINT_NOT_ALLOWED,
    )
    assert "(127.0.0.0/8, ::1, localhost)" in str(refused)
    assert "--allow-executors" in str(refused)
    missing = await refusal(client.get_workflow("outside"))
    assert missing.code == grpc.StatusCode.NOT_FOUND, "nothing was stored"


async def test_closed_non_grpc_and_other_grpc_endpoints_are_all_just_unreachable(
    cluster: Cluster, not_grpc: str
) -> None:
    client = cluster.client()
    closed = closed_address()
    other_grpc = cluster.runner.address  # a gRPC server, but no ExecutorService

    messages = {}
    for endpoint in (closed, not_grpc, other_grpc):
        refused = await refusal(client.register_workflow(approval("probe", endpoint)))
        assert (refused.code, refused.reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            Reason.EXECUTOR_SERVICE_UNREACHABLE,
        )
        messages[endpoint] = str(refused).replace(endpoint, "<endpoint>")

    assert len(set(messages.values())) == 1, messages
    assert "is unreachable" in messages[closed]


async def test_a_runner_given_rules_dials_what_they_allow_only(
    cluster: Cluster, tmp_path: Path
) -> None:
    (service,) = cluster.addresses
    port = service.rsplit(":", 1)[1]
    rules = ("--allow-executors", service, "--allow-executors", "unix:/run/stepline/")
    runner = await start_runner(tmp_path / "s.db", 0, *rules)
    async with runner, RunnerClient(runner.address) as client:
        registered = await client.register_workflow(approval("allowed", service))
        run = await client.start_run("allowed", Order("o-1", 5))
        await until_waiting(client, run.run_id)
        other_port = await refusal(client.register_workflow(approval("x", closed_address())))
        by_name = await refusal(client.register_workflow(approval("x", f"localhost:{port}")))

    assert registered.version == 1
    for refused in (other_port, by_name):
        assert refused.code == grpc.StatusCode.PERMISSION_DENIED
        assert f"({service}, unix:/run/stepline/)" in str(refused)


@pytest.mark.parametrize("rule", ["10.0.0.0/8:0", "unix:relative", "h:9-1"])
async def test_a_malformed_rule_stops_the_runner_at_start(tmp_path: Path, rule: str) -> None:
    returncode, stderr = await refused_start(
        "--db", str(tmp_path / "s.db"), "--port", "0", "--allow-executors", rule
    )

    assert returncode == 2
    assert b"--allow-executors" in stderr and repr(rule).encode() in stderr
    assert b"Traceback" not in stderr
