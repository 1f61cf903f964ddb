"""Executors in two languages: the conformance suite against the Python SDK's
and the Node.js service, a faulty service it must catch, and a Python -> Node
-> Python chain killed mid-run and resumed.

Node is required, not optional: without it these tests fail saying so (the
project leaves no skipped tests behind). `scripts/test` installs the Node
executor's dependencies.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from stepline import RunnerClient, payloads
from stepline.conformance import CHECKS, REFERENCE_CHECKS, CheckResult, connect
from stepline.host import UnknownExecutorType
from stepline.v1 import events_pb2 as E
from stepline.v1 import executor_pb2, executor_pb2_grpc
from tests.executors.faulty import Faulty
from tests.executors.stages import Stage, Token
from tests.support.cluster import Cluster
from tests.support.processes import Service, require_node, start_executors
from tests.support.runs import (
    assert_exact_log,
    latest_payloads,
    self_loop,
    stage_loop,
    until_superstep,
)

if TYPE_CHECKING:
    Ctx = grpc.aio.ServicerContext[Any, Any]


async def start_node_executors(env: dict[str, str] | None = None) -> Service:
    require_node()
    return await start_executors("node_stages", env)


# --- the conformance suite, through its command ---------------------------------------


async def conformance(address: str, *args: str) -> tuple[int, str]:
    """Run the `stepline-conformance` console script; its exit code and output."""
    command = Path(sys.executable).parent / "stepline-conformance"
    if not command.exists():
        pytest.fail(f"{command} is missing: reinstall the project (pip install -e .[dev])")
    process = await asyncio.create_subprocess_exec(
        str(command),
        address,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode()


@pytest.mark.parametrize("language", ["python", "node"])
async def test_conformance_suite_passes(language: str) -> None:
    if language == "python":
        service = await start_executors("stages")
    else:
        service = await start_node_executors()
    try:
        code, out = await conformance(service.address)
    finally:
        await service.kill()

    assert code == 0, out
    checks = len(CHECKS) + len(REFERENCE_CHECKS)  # the services host the reference type
    assert out.count("\nPASS ") == checks, out
    assert out.splitlines()[-1] == f"{checks} passed, 0 failed"
    assert "NOTE" not in out, "the default messages must make order and isolation observable"
    # Both say they take cancels on the Session stream, so the check ran for real.
    assert "stopped, with no reply; the call beside it ended" in out


async def test_conformance_command_says_why_it_cannot_start() -> None:
    service = await start_executors("stages")
    try:
        unknown_type = await conformance(service.address, "--type", "nope")
        not_json = await conformance(service.address, "--message", "{oops")
    finally:
        await service.kill()
    unreachable = await conformance("127.0.0.1:1", "--timeout", "2")

    assert unknown_type[0] == 2 and "hosts no executor type 'nope'" in unknown_type[1]
    assert not_json[0] == 2 and "not JSON" in not_json[1]
    assert unreachable[0] == 2 and "cannot call Describe on 127.0.0.1:1" in unreachable[1]


# --- the suite must catch faults ------------------------------------------------------


class FaultyService(Faulty):
    """The Python SDK's host with one fault injected between gRPC and it."""

    def __init__(self, fault: str) -> None:
        super().__init__({"stage": Stage}, fault)

    def _run_id(self, run_id: str) -> str:
        return "one-run-for-all" if self.fault == "shared-state" else run_id

    def _epoch(self, epoch: int) -> int:
        return 0 if self.fault == "unfenced" else epoch

    def _status(self, exc: Exception) -> grpc.StatusCode | None:
        if self.fault == "wrong-status" and isinstance(exc, UnknownExecutorType):
            return grpc.StatusCode.INTERNAL
        return super()._status(exc)

    async def Execute(
        self, request: executor_pb2.ExecuteRequest, context: Ctx
    ) -> executor_pb2.ExecuteResponse:
        request.run_id = self._run_id(request.run_id)
        request.epoch = self._epoch(request.epoch)
        if self.fault == "reversed":
            messages = list(request.messages)[::-1]
            del request.messages[:]
            request.messages.extend(messages)
        response = await self._call(self.host.execute, request, context)
        if self.fault == "new-incarnation":
            response.incarnation_id = "another"
        return response

    async def SaveCheckpoint(
        self, request: executor_pb2.SaveCheckpointRequest, context: Ctx
    ) -> executor_pb2.SaveCheckpointResponse:
        request.run_id = self._run_id(request.run_id)
        request.epoch = self._epoch(request.epoch)
        return await self._call(self.host.save, request, context)

    async def RestoreCheckpoint(
        self, request: executor_pb2.RestoreCheckpointRequest, context: Ctx
    ) -> executor_pb2.RestoreCheckpointResponse:
        request.run_id = self._run_id(request.run_id)
        request.epoch = self._epoch(request.epoch)

        async def restore(
            request: executor_pb2.RestoreCheckpointRequest,
        ) -> executor_pb2.RestoreCheckpointResponse:
            if self.fault == "lossy-restore" and request.state.data:
                state = payloads.json_value(request.state)  # a PayloadError if it is not JSON
                request.state.data = json.dumps({**state, "seen": []}).encode()
            return await self.host.restore(request)

        return await self._call(restore, request, context)

    async def EndRun(
        self, request: executor_pb2.EndRunRequest, context: Ctx
    ) -> executor_pb2.EndRunResponse:
        if self.fault == "keeps-runs":
            return executor_pb2.EndRunResponse(released=0)
        if self.fault == "stale-end-run":
            request.epoch = 0  # released whoever sends it
        return self.host.end_run(request)


@pytest.mark.parametrize(
    ("fault", "caught_by", "reason"),
    [
        ("reversed", {"in-order"}, "handled one by one, in the order given"),
        (
            "shared-state",
            {"in-order", "save-restore", "isolation", "end-run", "errors", "epochs", "fast-path"},
            "same executor id ran at the same time",
        ),
        ("lossy-restore", {"save-restore"}, "must save back unchanged"),
        ("keeps-runs", {"end-run"}, "released 0, not 2"),
        ("wrong-status", {"errors"}, "expected status NOT_FOUND, got INTERNAL"),
        # Every check but the Session's, which this service does not advertise.
        (
            "new-incarnation",
            {check.name for check in CHECKS} - {"session"},
            "one process must keep one id",
        ),
        ("unfenced", {"epochs"}, "expected status FAILED_PRECONDITION, but the call succeeded"),
        ("stale-end-run", {"epochs"}, "EndRun with epoch 1 after epoch 2 released 1 object(s)"),
    ],
)
async def test_conformance_suite_catches_a_faulty_service(
    fault: str, caught_by: set[str], reason: str
) -> None:
    server = grpc.aio.server()
    executor_pb2_grpc.add_ExecutorServiceServicer_to_server(FaultyService(fault), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        suite = await connect(f"127.0.0.1:{port}", executor_type="stage")
        try:
            results = await suite.run()
        finally:
            await suite.close()
    finally:
        await server.stop(None)

    failed = {r.name: r for r in results if not r.passed}
    assert set(failed) == caught_by, _report(results)
    assert any(reason in r.detail for r in failed.values()), _report(results)


def _report(results: list[CheckResult]) -> str:
    return "\n".join(f"{'PASS' if r.passed else 'FAIL'} {r.name}: {r.detail}" for r in results)


# --- a Python -> Node -> Python chain, killed and resumed -----------------------------


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Cluster]:
    """A runner and two executor services: Python `stage`s and Node `stage`s."""
    require_node()
    cluster = await Cluster.start(tmp_path, "stages", "node_stages")
    try:
        yield cluster
    finally:
        await cluster.close()


async def register(client: RunnerClient, cluster: Cluster) -> int:
    """a -> b -> c -> a: a and c are Python stages, b runs in Python or in Node.
    Returns the version of "mixed" registered."""
    python, node = cluster.addresses
    await client.register_workflow(stage_loop("all-python", [python, python, python]))
    return (await client.register_workflow(stage_loop("mixed", [python, node, python]))).version


def by_executor(log: list[dict[str, Any]], kind: str) -> dict[str, list[Any]]:
    states: dict[str, list[Any]] = {}
    for line in log:
        if line["kind"] == kind:
            states.setdefault(line["executor"], []).append(line["state"])
    return states


async def test_mixed_chain_resumes_after_sigkill_like_an_all_python_chain(
    services: Cluster,
) -> None:
    token = Token(value=3, hops=0, limit=24, delay_ms=40)
    client = services.client()
    await register(client, services)
    reference = await client.run("all-python", token, output_type=dict)
    reference_states = await latest_payloads(client, reference.run.run_id)
    # Uninterrupted, the Node stage is indistinguishable from the Python one,
    # down to the bytes of its state.
    uninterrupted = await client.run("mixed", token, output_type=dict)
    assert uninterrupted.outputs == reference.outputs
    assert await latest_payloads(client, uninterrupted.run.run_id) == reference_states

    run = await client.start_run("mixed", token)
    await until_superstep(client, run.run_id, 5)
    await services.kill_all()
    killed_at, last_checkpoint = services.stored_run(run.run_id)
    assert 5 <= killed_at < 24, "the kill must land mid-run"
    node_saves = by_executor(services.log("node_stages", 1), "save")
    assert set(node_saves) == {"b"}, "only b runs in the Node service"

    await services.start_all()  # each service's second process, on new ports
    client = services.client()
    # The services moved to new ports; the topology (and so the signature) is
    # the same. Moved to the new version, the restarted runner resumes the run
    # by itself once they answer.
    version = await register(client, services)
    moves = await client.move_runs("mixed", version, all_runs=True)
    assert run.run_id in moves.moved_run_ids
    resumed = await client.wait(run.run_id, output_type=dict)
    final_states = await latest_payloads(client, run.run_id)
    checkpoint = await client.get_checkpoint(last_checkpoint, include_content=True)

    assert resumed.outputs == reference.outputs
    assert final_states == reference_states
    assert_exact_log(resumed.events)
    resumes = [e for e in resumed.events if e.kind == E.EVENT_KIND_RUN_RESUMED]
    assert [e.checkpoint_id for e in resumes] == [last_checkpoint]

    # b's state went Node save -> SQLite -> Node restore without a change: the
    # restored value is the stored one, which is one the Node service saved, and
    # the stored bytes are that value as the Python SDK would encode it.
    saved = checkpoint.content.executor_states
    node_restores = by_executor(services.log("node_stages", 2), "restore")
    assert node_restores == {"b": [payloads.json_value(saved["b"])]}
    assert node_restores["b"][0] in node_saves["b"]
    assert saved["b"].type_name == "stage.state"
    assert (
        saved["b"].data
        == json.dumps(node_restores["b"][0], separators=(",", ":"), sort_keys=True).encode()
    )
    python_restores = by_executor(services.log("stages", 2), "restore")
    assert python_restores == {x: [payloads.json_value(saved[x])] for x in ("a", "c")}


async def test_a_node_stage_sends_a_message_with_a_delay(services: Cluster) -> None:
    client = services.client()
    node = services.addresses[1]
    await client.register_workflow(self_loop("node-timer", "s", "stage", node).build())
    # timer_ms: each hop goes out as a durable timer (only the Node stage knows it).
    token = {"value": 3, "hops": 0, "limit": 2, "timer_ms": 150}
    result = await client.run("node-timer", payloads.encode(token, "Token"), output_type=dict)

    assert result.outputs == [{"value": 2948, "by": "s", "total": 98}]
    changed = [e for e in result.events if e.kind == E.EVENT_KIND_STATUS_CHANGED]
    assert [e.status for e in changed][:2] == [
        E.RUN_STATUS_RUNNING,
        E.RUN_STATUS_WAITING_FOR_TIMERS,
    ]
    # The timer as the checkpoint of superstep 1 kept it; delivered once due, not before.
    (first,) = [c async for c in client.list_checkpoints(result.run.run_id) if c.superstep == 1]
    first = await client.get_checkpoint(first.checkpoint_id, include_content=True)
    (timer,) = first.content.timers
    assert timer.source_id == "s" and payloads.decode(timer.payload, dict)["timer_ms"] == 150
    started = [e for e in result.events if e.kind == E.EVENT_KIND_SUPERSTEP_STARTED]
    assert started[1].time.ToNanoseconds() >= timer.deliver_at.ToNanoseconds()
