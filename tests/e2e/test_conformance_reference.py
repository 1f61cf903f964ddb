"""The extended conformance suite: the `reference` type's checks, the
differential mode and the restart check, green for the Python SDK and the
Node example (each compared with the other), and each new check catching a
deliberately faulty service."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
import pytest

from stepline.conformance import CHECKS, REFERENCE_CHECKS, Check, CheckResult, connect
from stepline.conformance.paired import differential_check
from stepline.conformance.reference import Reference
from stepline.host import StateTooLarge
from stepline.v1 import executor_pb2, executor_pb2_grpc, payload_pb2
from tests.executors.faulty import Faulty
from tests.executors.stages import Stage
from tests.support.processes import (
    ROOT,
    Service,
    on_free_port,
    require_node,
    spawn,
    start_executors,
)

if TYPE_CHECKING:
    Ctx = grpc.aio.ServicerContext[Any, Any]

Request = TypeVar("Request")
Response = TypeVar("Response")
NODE_STAGE = ROOT / "examples" / "node-executor" / "stage.js"
RESTARTER = "tests/support/restarter.py"


async def restartable(language: str) -> Service:
    """The stage + reference service of `language` on a fixed port, under a
    process that restarts it on SIGHUP."""
    if language == "python":
        command = [sys.executable, "tests/executors/stages.py"]

        async def start(port: int) -> Service:
            return await spawn(RESTARTER, *command, env={"STEPLINE_PORT": str(port)})
    else:
        require_node()

        async def start(port: int) -> Service:
            return await spawn(RESTARTER, "node", str(NODE_STAGE), "--port", str(port))

    _, service = await on_free_port(start)
    return service


async def conformance(*args: str) -> tuple[int, str]:
    command = Path(sys.executable).parent / "stepline-conformance"
    process = await asyncio.create_subprocess_exec(
        str(command), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode()


@pytest.mark.parametrize(("language", "other"), [("python", "node"), ("node", "python")])
async def test_the_extended_suite_passes_compared_with_the_other_language(
    language: str, other: str
) -> None:
    service = await restartable(language)
    if other == "node":
        require_node()
    reference = await start_executors("node_stages" if other == "node" else "stages")
    try:
        restart = f"kill -HUP {service.process.pid}"
        code, out = await conformance(
            service.address, "--differential", reference.address, "--restart-command", restart
        )
    finally:
        await service.terminate()
        await reference.kill()
    names = [c.name for c in (*CHECKS, *REFERENCE_CHECKS)] + ["differential", "restart"]
    assert code == 0, out
    assert [line.split(":")[0] for line in out.splitlines() if line.startswith("PASS ")] == [
        f"PASS {n}" for n in names
    ], out
    assert out.splitlines()[-1] == f"{len(names)} passed, 0 failed"
    assert "8 Execute calls of 'stage' and 'reference'" in out


async def test_a_restart_that_keeps_the_incarnation_is_caught() -> None:
    service = await start_executors("stages")
    try:
        code, out = await conformance(
            service.address, "--no-reference", "--restart-command", "true", "--timeout", "1"
        )
    finally:
        await service.kill()
    assert code == 1, out
    assert "FAIL restart" in out and "still has incarnation id" in out


class FaultyReference(Faulty):
    """The Python SDK's host with one fault injected between gRPC and it."""

    def __init__(self, fault: str) -> None:
        super().__init__({"stage": Stage, "reference": Reference}, fault)
        self._late: set[asyncio.Future[executor_pb2.ExecuteResponse]] = set()

    async def Execute(
        self, request: executor_pb2.ExecuteRequest, context: Ctx
    ) -> executor_pb2.ExecuteResponse:
        fault = self.fault
        if fault == "ignores-responses":
            del request.responses[:]
        if fault == "blind-to-shared-state":
            request.shared_state.clear()
        if fault == "splits-batches":
            _split_batches(request)
        if fault == "token-off-by-one" and request.executor_type == "stage":
            for message in request.messages:
                message.payload.data = message.payload.data.replace(b'"value":1}', b'"value":2}')
        if fault == "restores-under-a-late-call":
            # The handler runs on past the call's deadline, as grpc-js lets one.
            late = asyncio.ensure_future(self._call(self.host.execute, request, context))
            self._late.add(late)
            late.add_done_callback(self._late.discard)
            return await asyncio.shield(late)
        response = await self._call(self.host.execute, request, context)
        if fault == "drops-writes":
            del response.shared_state_writes[:]
        if fault == "stale-fast-state" and response.HasField("checkpoint"):
            response.checkpoint.state.data = b"{}"
        return response

    async def SaveCheckpoint(
        self, request: executor_pb2.SaveCheckpointRequest, context: Ctx
    ) -> executor_pb2.SaveCheckpointResponse:
        try:
            return await self._call(self.host.save, request, context)
        except StateTooLarge:
            return executor_pb2.SaveCheckpointResponse(
                state=payload_pb2.Payload(type_name="reference.state", data=b"{}"),
                incarnation_id=self.host.incarnation_id,
            )

    async def RestoreCheckpoint(
        self, request: executor_pb2.RestoreCheckpointRequest, context: Ctx
    ) -> executor_pb2.RestoreCheckpointResponse:
        held = self.host._objects.get((request.run_id, request.executor_id))
        if self.fault == "restores-under-a-late-call" and held and request.state.data:
            # Into the object a late handler may still hold, not a new one.
            self.host.fence.admit(request.run_id, request.epoch)
            held.on_checkpoint_restore(json.loads(request.state.data))
            return executor_pb2.RestoreCheckpointResponse(incarnation_id=self.host.incarnation_id)
        return await self._call(self.host.restore, request, context)

    async def EndRun(
        self, request: executor_pb2.EndRunRequest, context: Ctx
    ) -> executor_pb2.EndRunResponse:
        return self.host.end_run(request)

    def _status(self, exc: Exception) -> grpc.StatusCode | None:
        if self.fault == "no-state-cap" and isinstance(exc, StateTooLarge):
            return None
        return super()._status(exc)


def _split_batches(request: executor_pb2.ExecuteRequest) -> None:
    """Deliver a batch's messages one by one instead of as one batch."""
    messages = []
    for message in request.messages:
        if message.payload.type_name == "stepline.v1.MessageBatch":
            batch = payload_pb2.MessageBatch()
            batch.ParseFromString(message.payload.data)
            messages += list(batch.messages)
        else:
            messages.append(message)
    del request.messages[:]
    request.messages.extend(messages)


@pytest.mark.parametrize(
    ("fault", "caught_by", "reason"),
    [
        # The differential check runs the reference type too, so it sees them as well.
        ("ignores-responses", {"reference-responses", "differential"}, "yielded []"),
        ("blind-to-shared-state", {"reference-shared-state", "differential"}, '"read:k:0"'),
        ("drops-writes", {"reference-shared-state", "differential"}, "wrote []"),
        (
            "splits-batches",
            {"reference-fan-in", "differential"},
            "but the specification gives one RefOutput",
        ),
        ("no-state-cap", {"reference-state-cap"}, "expected status RESOURCE_EXHAUSTED"),
        ("token-off-by-one", {"differential"}, "this service sent"),
        ("stale-fast-state", {"fast-path"}, "they must be the same bytes"),
        ("restores-under-a-late-call", {"reference-late-call"}, '"log":["add:1","wait:600"]'),
    ],
)
async def test_each_new_check_catches_a_faulty_service(
    fault: str, caught_by: set[str], reason: str
) -> None:
    truth = await start_executors("stages")
    server = grpc.aio.server()
    executor_pb2_grpc.add_ExecutorServiceServicer_to_server(FaultyReference(fault), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        results = await _suite(f"127.0.0.1:{port}", truth.address)
    finally:
        await server.stop(None)
        await truth.kill()
    failed = {r.name: r for r in results if not r.passed}
    assert set(failed) == caught_by, _report(results)
    assert any(reason in r.detail for r in failed.values()), _report(results)


async def _suite(address: str, reference_address: str) -> list[CheckResult]:
    suite = await connect(address, executor_type="stage")
    reference = await connect(reference_address, executor_type="stage")
    try:
        checks: Sequence[Check] = (
            *CHECKS,
            *REFERENCE_CHECKS,
            differential_check(reference.probe),
        )
        return await suite.run(checks)
    finally:
        await suite.close()
        await reference.close()


def _report(results: list[CheckResult]) -> str:
    return "\n".join(f"{'PASS' if r.passed else 'FAIL'} {r.name}: {r.detail}" for r in results)
