"""`stepline checkpoint|request|executor|runner ...` against a runner process
and a real executor service: output, exit codes, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import pytest_asyncio

from stepline import RunnerClient, WorkflowBuilder
from stepline.conformance import CHECKS
from stepline.testing import spawn
from tests.executors.approvals import Order
from tests.executors.stages import Token
from tests.support.cli import Result, stepline
from tests.support.cluster import Cluster, cluster_fixture
from tests.support.processes import ROOT, closed_address
from tests.support.runs import stage_loop, until_waiting

pytestmark = pytest.mark.asyncio(loop_scope="module")

cluster = cluster_fixture("faults", scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def client(cluster: Cluster) -> RunnerClient:
    client = cluster.client()
    endpoint = cluster.addresses[0]
    await client.register_workflow(stage_loop("loop", [endpoint, endpoint]))
    await client.register_workflow(
        WorkflowBuilder("approve")
        .add_executor("intake", endpoint, type="intake")
        .add_executor("reviewer", endpoint, type="reviewer")
        .add_executor("close", endpoint, type="close")
        .add_chain(["intake", "reviewer", "close"])
        .set_start_executor("intake")
        .build()
    )
    return client


async def cli(cluster: Cluster, *args: str) -> Result:
    return await stepline(*args, address=cluster.runner.address)


async def checkpoint_ids(client: RunnerClient, run_id: str) -> list[str]:
    return [c.checkpoint_id async for c in client.list_checkpoints(run_id)]


async def test_checkpoint_list_and_get_with_decoded_states(
    cluster: Cluster, client: RunnerClient
) -> None:
    run = (await client.run("loop", Token(1, 0, 3))).run
    listed = await cli(cluster, "checkpoint", "list", run.run_id)
    assert listed.code == 0
    header, *body = listed.stdout.strip().splitlines()
    assert header.split() == ["CHECKPOINT", "STEP", "PARENT", "CREATED"]
    assert [line.split()[1] for line in body] == ["0", "1", "2", "3"]
    as_json = (await cli(cluster, "checkpoint", "list", run.run_id, "--json")).json()
    assert [c["checkpoint_id"] for c in as_json] == await checkpoint_ids(client, run.run_id)

    second = as_json[1]["checkpoint_id"]
    bare = (await cli(cluster, "checkpoint", "get", second, "--json")).json()
    assert "executor_states" not in bare.get("content", {})
    assert bare["content"]["pending_messages"][0]["target_id"] == "b"
    full = (await cli(cluster, "checkpoint", "get", second, "--states", "--json")).json()
    assert full["content"]["executor_states"]["a"] == {
        "type_name": "stage.state",
        "value": {"count": 1, "seen": [0], "total": 1},
    }
    text = await cli(cluster, "checkpoint", "get", second, "--states")
    assert "state of a (stage.state):" in text.stdout
    assert '    "count": 1,' in text.stdout
    assert "message: a -> b Token" in text.stdout


async def test_checkpoint_diff_names_what_changed(cluster: Cluster, client: RunnerClient) -> None:
    run = (await client.run("loop", Token(1, 0, 5))).run
    ids = await checkpoint_ids(client, run.run_id)
    first, fourth = ids[1], ids[4]

    text = await cli(cluster, "checkpoint", "diff", first, fourth)
    assert text.code == 0
    lines = text.stdout.splitlines()
    assert "executor states: 1 changed, 2 added, 0 removed, 0 unchanged" in lines
    assert "  ~ a" in lines
    assert "      ~ $.count: 1 -> 2" in lines
    assert "      + $.seen[1]: 3" in lines
    assert "pending messages: 1 -> 1" in lines
    assert "fan-in buffers: same (0)" in lines
    assert "pending requests: same (0)" in lines

    diff = (await cli(cluster, "checkpoint", "diff", first, fourth, "--json")).json()
    assert diff["same"] is False
    assert diff["executor_states"]["added"] == ["b", "c"]
    assert {"path": "$.count", "before": 1, "after": 2} in diff["executor_states"]["changed"]["a"]
    assert (await cli(cluster, "checkpoint", "diff", first, first, "--json")).json()["same"]

    unknown = await cli(cluster, "checkpoint", "diff", first, "nope")
    assert unknown.code == 1 and "NOT_FOUND" in unknown.stderr


async def test_checkpoint_delete(cluster: Cluster, client: RunnerClient) -> None:
    run = (await client.run("loop", Token(1, 0, 3))).run
    ids = await checkpoint_ids(client, run.run_id)
    deleted = await cli(cluster, "checkpoint", "delete", ids[1])
    assert deleted.code == 0
    assert deleted.stdout.startswith(f"deleted checkpoint {ids[1]}: ")
    assert await checkpoint_ids(client, run.run_id) == [ids[0], *ids[2:]]
    latest = await cli(cluster, "checkpoint", "delete", ids[-1])
    assert latest.code == 1
    assert "FAILED_PRECONDITION" in latest.stderr and "LATEST_CHECKPOINT" in latest.stderr
    again = await cli(cluster, "checkpoint", "delete", ids[1], "--json")
    assert again.code == 1 and "NOT_FOUND" in again.stderr and again.stdout == ""


async def test_request_list_and_answer(cluster: Cluster, client: RunnerClient) -> None:
    run = await client.start_run("approve", Order("o-7", 250))
    await until_waiting(client, run.run_id)

    listed = await cli(cluster, "request", "list", run.run_id)
    assert listed.code == 0
    header, row = listed.stdout.strip().splitlines()
    assert header.split() == ["REQUEST", "EXECUTOR", "STEP", "WANTS", "DATA"]
    request_id, executor, _step, wants, data = row.split(None, 4)
    assert (executor, wants) == ("reviewer", "Decision")
    assert json.loads(data) == {"amount": 250, "order_id": "o-7", "reviewer": "reviewer"}
    as_json = (await cli(cluster, "request", "list", run.run_id, "--json")).json()
    assert as_json[0]["request_id"] == request_id
    assert as_json[0]["data"]["value"]["order_id"] == "o-7"
    assert (
        await cli(cluster, "request", "list", run.run_id, "-n", "1", "--json")
    ).json() == as_json
    none = await cli(cluster, "request", "list", run.run_id, "--limit", "0")
    assert none.code == 2 and "--limit" in none.stderr

    bad = await cli(cluster, "request", "answer", run.run_id, request_id, "--json", "{yes")
    assert bad.code == 2 and "--json: the value is not JSON" in bad.stderr
    unknown = await cli(cluster, "request", "answer", run.run_id, "r-none", "--json", "{}")
    assert unknown.code == 1 and "r-none" in unknown.stderr

    decision = json.dumps({"approved": True, "by": "ann"})
    answered = await cli(cluster, "request", "answer", run.run_id, request_id, "--json", decision)
    assert answered.code == 0, answered.stderr
    waited = await cli(cluster, "run", "wait", run.run_id, "--json")
    outputs = waited.json()["outputs"]
    assert outputs[0]["value"] == {"by": "ann", "order": "o-7", "status": "approved"}
    late = await cli(cluster, "request", "answer", run.run_id, request_id, "--json", decision)
    assert late.code == 1 and "FAILED_PRECONDITION" in late.stderr


async def test_executor_describe(cluster: Cluster) -> None:
    endpoint = cluster.addresses[0]
    text = await stepline("executor", "describe", endpoint)
    assert text.code == 0
    assert "sdk" in text.stdout and "stepline-python" in text.stdout
    rows = {line.split()[0]: line.split()[1:] for line in text.stdout.splitlines()[4:]}
    assert rows["stage"][:3] == ["Token", "Token", "object"]
    assert rows["reviewer"][-1] == "Decision"
    described = (await stepline("executor", "describe", endpoint, "--json")).json()
    names = {t["name"] for t in described["executor_types"]}
    assert {"stage", "boom", "intake", "reviewer"} <= names
    assert described["incarnation_id"]

    away = await stepline("executor", "describe", closed_address(), "--timeout", "2")
    assert away.code == 1 and "UNAVAILABLE" in away.stderr


async def test_executor_check_runs_the_conformance_suite(cluster: Cluster) -> None:
    endpoint = cluster.addresses[0]
    passed = await stepline("executor", "check", endpoint, "--type", "stage")
    assert passed.code == 0, passed.stdout
    assert passed.stdout.splitlines()[-1] == f"{len(CHECKS)} passed, 0 failed"
    assert all(line.startswith(("PASS ", "     ")) for line in passed.stdout.splitlines()[:-1])
    as_json = await stepline("executor", "check", endpoint, "--type", "stage", "--json")
    results = as_json.json_lines()
    assert len(results) == len(CHECKS) and all(r["passed"] for r in results)

    cannot = await stepline("executor", "check", endpoint, "--type", "no-such-type")
    assert cannot.code == 1 and "error:" in cannot.stderr


async def test_runner_serve_is_the_runner(tmp_path: Path) -> None:
    runner = await spawn(
        "-m",
        "stepline.cli",
        "runner",
        "serve",
        "--db",
        str(tmp_path / "served.db"),
        "--port",
        "0",
        cwd=ROOT,
    )
    try:
        listed = await stepline("run", "list", "--json", address=runner.address)
        assert listed.code == 0 and listed.json() == []
    finally:
        await runner.kill()
    bad = await stepline("runner", "serve", "--port", "many")
    assert bad.code == 2 and "stepline runner serve: argument --port" in bad.stderr
