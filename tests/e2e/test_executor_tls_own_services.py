"""Against real processes, with certificates the test makes, each test
starting the services it needs: a Python and Node run over mTLS survives a
SIGKILL of everything, unusable TLS files stop the runner and the services
at start, and the Node service wants the token on every call."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import grpc
import pytest

from stepline.v1 import events_pb2 as E
from stepline.v1 import executor_pb2
from tests.executors.stages import Token
from tests.support.cluster import Cluster
from tests.support.executor_tls import Pki, call, forged, pki_fixture, tls_env
from tests.support.processes import ROOT, refused_start, require_node, start_executors
from tests.support.runs import assert_exact_log, of_kind, stage_loop, until_superstep

pytestmark = pytest.mark.asyncio(loop_scope="module")

pki = pki_fixture()


async def test_a_mixed_python_and_node_run_over_mtls_survives_a_sigkill(
    pki: Pki, tmp_path: Path
) -> None:
    require_node()
    cert, key = pki.runner
    cluster = await Cluster.start(
        tmp_path,
        "stages",
        "node_stages",
        runner_options=("--executor-tls", "*", f"ca={pki.ca}", f"cert={cert}", f"key={key}"),
        fixed_ports=True,  # they come back where the workflow says
        executor_env=tls_env(pki, client_ca=True),
    )
    try:
        python, node = cluster.addresses
        client = cluster.client()
        await client.register_workflow(stage_loop("mixed", [python, node, python]))
        token = Token(value=5, hops=0, limit=21, delay_ms=40)
        reference = await client.run("mixed", token, output_type=dict)
        run = await client.start_run("mixed", token)
        await until_superstep(client, run.run_id, 5)
        await cluster.kill_all()
        killed_at, last_checkpoint = cluster.stored_run(run.run_id)
        outsider = await call(node, "Describe", executor_pb2.DescribeRequest(), pki.credentials())

        await cluster.start_all()  # same ports, same certificates: it resumes by itself
        resumed = await cluster.client().wait(run.run_id, output_type=dict)
        node_restores = [e for e in cluster.log("node_stages", 2) if e["kind"] == "restore"]
    finally:
        await cluster.close()

    assert 5 <= killed_at < 21, "the kill landed mid-run"
    assert outsider[0] == grpc.StatusCode.UNAVAILABLE, "the Node service wants a certificate"
    assert resumed.run.status == E.RUN_STATUS_COMPLETED
    assert resumed.outputs == reference.outputs
    assert_exact_log(resumed.events)
    resumes = of_kind(resumed.events, E.EVENT_KIND_RUN_RESUMED)
    assert [e.checkpoint_id for e in resumes] == [last_checkpoint]
    assert [e["executor"] for e in node_restores] == ["b"], "b's state went back over mTLS"


async def test_unusable_tls_files_stop_the_runner_and_the_services_at_start(
    pki: Pki, tmp_path: Path
) -> None:
    cert, _ = pki.runner
    _, other_key = pki.mallory
    db = str(tmp_path / "s.db")
    mismatch = await refused_start(
        "--db", db, "--executor-tls", "*", f"cert={cert}", f"key={other_key}"
    )
    unreadable = await refused_start("--db", db, "--executor-tls", "*", "ca=/nonexistent.pem")
    service = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "tests" / "executors" / "stages.py"),
        env={**os.environ, **tls_env(pki), "STEPLINE_EXECUTOR_CLIENT_CA": str(other_key)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, service_stderr = await service.communicate()

    assert mismatch[0] == 2
    assert (
        f"the private key {other_key} does not belong to the certificate {cert}".encode()
        in (mismatch[1])
    )
    assert unreadable[0] == 2 and b"ca: cannot read /nonexistent.pem" in unreadable[1]
    assert service.returncode == 2
    assert b"STEPLINE_EXECUTOR_CLIENT_CA: " in service_stderr
    assert b"holds no usable PEM certificate" in service_stderr


async def test_the_node_service_requires_the_token_on_every_rpc(pki: Pki) -> None:
    require_node()
    node = await start_executors("node_stages", tls_env(pki, token=True))
    bearer = (("authorization", f"Bearer {pki.token.read_text().strip()}"),)
    tls = pki.credentials()
    async with node:
        refused = [
            await call(node.address, "Describe", executor_pb2.DescribeRequest(), tls),
            await call(node.address, "SaveCheckpoint", executor_pb2.SaveCheckpointRequest(), tls),
            await call(node.address, "RestoreCheckpoint", forged("r", "b"), tls),
            await call(
                node.address,
                "EndRun",
                executor_pb2.EndRunRequest(run_id="r"),
                tls,
                (("authorization", "Bearer nope"),),
            ),
        ]
        restored = await call(node.address, "RestoreCheckpoint", forged("r", "b"), tls, bearer)
        saved = await call(
            node.address,
            "SaveCheckpoint",
            executor_pb2.SaveCheckpointRequest(run_id="r", executor_id="b", executor_type="stage"),
            tls,
            bearer,
        )

    for code, details in refused:
        assert code == grpc.StatusCode.UNAUTHENTICATED
        assert "needs a token" in details
    assert restored[0] == grpc.StatusCode.OK
    assert saved[0] == grpc.StatusCode.OK
    assert saved[1].state.data == b'{"count":900,"seen":[],"total":900}'
