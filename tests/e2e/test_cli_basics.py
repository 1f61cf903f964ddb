"""The `stepline` command against a real runner: connection options, exit
codes, tables and --json, and ListWorkflows."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
import pytest_asyncio

from stepline import WorkflowBuilder
from stepline.v1 import runner_pb2, runner_pb2_grpc
from tests.executors.stages import Token
from tests.support.cli import stepline
from tests.support.cluster import Cluster, cluster_fixture
from tests.support.processes import closed_address

pytestmark = pytest.mark.asyncio(loop_scope="module")


cluster = cluster_fixture("stages", scope="module")


class Setup:
    def __init__(self, cluster: Cluster) -> None:
        self.client = cluster.client()
        self.address = cluster.runner.address


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def setup(cluster: Cluster) -> Setup:
    setup = Setup(cluster)
    stages = cluster.addresses[0]
    for workflow_id in ("pair", "solo"):
        builder = WorkflowBuilder(workflow_id).add_executor("a", stages, type="stage")
        if workflow_id == "pair":
            builder.add_executor("b", stages, type="stage").add_chain(["a", "b"])
        await setup.client.register_workflow(builder.set_start_executor("a").build())
    return setup


async def test_list_workflows_pages_through_every_registered_workflow(setup: Setup) -> None:
    summaries = [s async for s in setup.client.list_workflows(page_size=1)]
    assert [s.workflow_id for s in summaries] == ["pair", "solo"]
    pair = summaries[0]
    assert (pair.start_executor_id, pair.executor_count, pair.edge_count) == ("a", 2, 1)
    assert pair.graph_signature and pair.updated_at.seconds > 0


async def test_list_workflows_refuses_a_forged_page_token(setup: Setup) -> None:
    async with grpc.aio.insecure_channel(setup.address) as channel:
        stub = runner_pb2_grpc.RunnerServiceStub(channel)
        for token in ("bm90IGEgbnVtYmVy", "LTE=", "x" * 5000):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.ListWorkflows(runner_pb2.ListWorkflowsRequest(page_token=token))
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert len(caught.value.details() or "") < 400
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListWorkflows(runner_pb2.ListWorkflowsRequest(page_size=-1))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_run_get_prints_the_run_as_a_table_and_as_json(setup: Setup) -> None:
    result = await setup.client.run("pair", Token(1, 0, 2))
    run_id = result.run.run_id

    table = await stepline("run", "get", run_id, address=setup.address)
    assert table.code == 0, table.stderr
    lines = dict(line.split(None, 1) for line in table.stdout.splitlines() if line.strip())
    assert lines["run"].strip() == run_id
    assert lines["status"].strip() == "COMPLETED"

    as_json = await stepline("run", "get", run_id, "--json", address=setup.address)
    assert as_json.code == 0
    document = as_json.json()
    assert document["run_id"] == run_id
    assert document["status"] == "RUN_STATUS_COMPLETED"
    assert document["workflow_id"] == "pair"


async def test_run_list_shows_newest_first_with_a_limit(setup: Setup) -> None:
    first = await setup.client.run("solo", Token(1, 0, 1))
    second = await setup.client.run("solo", Token(2, 0, 1))
    listed = await stepline("run", "list", "--workflow", "solo", "--json", address=setup.address)
    assert listed.code == 0, listed.stderr
    ids = [r["run_id"] for r in listed.json()]
    assert ids[:2] == [second.run.run_id, first.run.run_id]

    limited = await stepline("run", "list", "-w", "solo", "-n", "1", address=setup.address)
    header, *rows = limited.stdout.strip().splitlines()
    assert header.split()[:3] == ["RUN", "WORKFLOW", "STATUS"]
    assert len(rows) == 1 and rows[0].split()[:3] == [second.run.run_id, "solo", "COMPLETED"]


async def test_an_unknown_run_exits_1_with_the_status(setup: Setup) -> None:
    result = await stepline("run", "get", "no-such-run", address=setup.address)
    assert result.code == 1
    assert result.stdout == ""
    assert "NOT_FOUND" in result.stderr and "no-such-run" in result.stderr


async def test_the_address_comes_from_the_environment(setup: Setup) -> None:
    result = await stepline("run", "list", env={"STEPLINE_ADDRESS": setup.address})
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("RUN")


async def test_an_unreachable_runner_exits_1_unavailable() -> None:
    result = await stepline("run", "list", address=closed_address())
    assert result.code == 1
    assert "UNAVAILABLE" in result.stderr


async def test_usage_errors_exit_2(setup: Setup, tmp_path: Path) -> None:
    unknown = await stepline("run", "frobnicate", address=setup.address)
    assert unknown.code == 2
    bad_limit = await stepline("run", "list", "--limit", "0", address=setup.address)
    assert bad_limit.code == 2
    missing = await stepline(
        "--token-file", str(tmp_path / "absent"), "run", "list", address=setup.address
    )
    assert missing.code == 2
    assert "--token-file" in missing.stderr
