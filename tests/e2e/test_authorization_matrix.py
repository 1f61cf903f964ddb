"""Every RunnerService call, the streams included, by every kind of caller in
namespace team-a: exactly the expected allow or deny, against a real runner,
and against a runner that follows its file (--follow), which refuses what it
does not serve (READ_ONLY) only once the caller was authorised.

The calls come from the service descriptor, so a new RPC without a line in
CALLS fails here. An allowed call is sent with ids that do not exist (or an
empty definition): it gets past authorisation and changes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import pytest_asyncio

from stepline.v1 import payload_pb2, runner_pb2, runner_pb2_grpc, workflow_pb2
from tests.support.cluster import Cluster
from tests.support.processes import start_runner
from tests.support.tenants import (
    ADMIN,
    EVERYWHERE,
    OPERATOR,
    OTHER,
    READER,
    Tenant,
    write_auth_config,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

SERVICE = runner_pb2.DESCRIPTOR.services_by_name["RunnerService"]
NAMESPACE = "team-a"
Code = grpc.StatusCode
PAYLOAD = payload_pb2.Payload(type_name="x")

# RPC -> (least role that may call it, harmless request fields, the status an
# allowed caller gets). What issue 13 says each role may do.
CALLS: dict[str, tuple[str, dict[str, Any], Code]] = {
    "GetWorkflow": ("reader", {"workflow_id": "nope"}, Code.NOT_FOUND),
    "ListWorkflows": ("reader", {}, Code.OK),
    "GetRun": ("reader", {"run_id": "nope"}, Code.NOT_FOUND),
    "ListRuns": ("reader", {}, Code.OK),
    "WatchRun": ("reader", {"run_id": "nope"}, Code.NOT_FOUND),
    "WatchRuns": ("reader", {"workflow_id": "nope"}, Code.NOT_FOUND),
    "ListCheckpoints": ("reader", {"run_id": "nope"}, Code.NOT_FOUND),
    "GetCheckpoint": ("reader", {"checkpoint_id": "nope"}, Code.NOT_FOUND),
    "ListPendingRequests": ("reader", {"run_id": "nope"}, Code.NOT_FOUND),
    "StartRun": ("operator", {"workflow_id": "nope", "input": PAYLOAD}, Code.NOT_FOUND),
    "CancelRun": ("operator", {"run_id": "nope"}, Code.NOT_FOUND),
    "DeleteRun": ("operator", {"run_id": "nope"}, Code.NOT_FOUND),
    "ResumeRun": ("operator", {"checkpoint_id": "nope"}, Code.NOT_FOUND),
    "SendResponses": ("operator", {"run_id": "nope", "responses": {"q": PAYLOAD}}, Code.NOT_FOUND),
    "DeleteCheckpoint": ("operator", {"checkpoint_id": "nope"}, Code.NOT_FOUND),
    "RegisterWorkflow": (
        "admin",
        {"workflow": workflow_pb2.WorkflowDefinition()},
        Code.INVALID_ARGUMENT,
    ),
    "GetSchedule": ("reader", {"schedule_id": "nope"}, Code.NOT_FOUND),
    "ListSchedules": ("reader", {}, Code.OK),
    "CreateSchedule": ("operator", {}, Code.INVALID_ARGUMENT),
    "PauseSchedule": ("operator", {"schedule_id": "nope"}, Code.NOT_FOUND),
    "ResumeSchedule": ("operator", {"schedule_id": "nope"}, Code.NOT_FOUND),
    "DeleteSchedule": ("operator", {"schedule_id": "nope"}, Code.NOT_FOUND),
    "MoveRuns": (
        "admin",
        {"workflow_id": "nope", "to_version": 1, "run_ids": ["nope"]},
        Code.NOT_FOUND,
    ),
}
RANK = {"reader": 1, "operator": 2, "admin": 3}
# Caller -> its rank in team-a (0: none; None: no credentials).
CALLERS: dict[str, tuple[Tenant | None, int | None]] = {
    "no credentials": (None, None),
    "reader": (READER, 1),
    "operator": (OPERATOR, 2),
    "admin": (ADMIN, 3),
    "admin of another namespace": (OTHER, 0),
    "admin of every namespace": (EVERYWHERE, 3),
}


# What a follower serves; it refuses the rest with FAILED_PRECONDITION.
FOLLOWER_SERVES = {m for m, (role, _, _) in CALLS.items() if role == "reader"} - {"WatchRuns"}
Stubs = dict[str, "runner_pb2_grpc.RunnerServiceAsyncStub"]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def stubs(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stubs]:
    """Of the runner ("owner") and of one that follows its file ("follower")."""
    tmp = tmp_path_factory.mktemp("matrix")
    options = ["--auth-config", str(write_auth_config(tmp))]
    cluster = await Cluster.start(tmp, runner_options=options)
    follower = await start_runner(cluster.db, 0, "--follow", *options)
    try:
        async with (
            grpc.aio.insecure_channel(cluster.runner.address) as owner,
            grpc.aio.insecure_channel(follower.address) as following,
        ):
            yield {
                "owner": runner_pb2_grpc.RunnerServiceStub(owner),
                "follower": runner_pb2_grpc.RunnerServiceStub(following),
            }
    finally:
        await follower.terminate()
        await cluster.close()


@pytest.fixture
def stub(stubs: Stubs) -> runner_pb2_grpc.RunnerServiceAsyncStub:
    return stubs["owner"]


async def test_every_rpc_of_the_service_has_a_line_in_the_matrix() -> None:
    assert sorted(m.name for m in SERVICE.methods) == sorted(CALLS)


async def status_of(
    stub: runner_pb2_grpc.RunnerServiceAsyncStub, method: Any, tenant: Tenant | None
) -> Code:
    _, fields, _ = CALLS[method.name]
    request = getattr(runner_pb2, method.input_type.name)(namespace=NAMESPACE, **fields)
    metadata = (("authorization", f"Bearer {tenant.token}"),) if tenant else ()
    call = getattr(stub, method.name)
    try:
        if method.server_streaming:
            async for _ in call(request, metadata=metadata, timeout=10):
                pass
        else:
            await call(request, metadata=metadata, timeout=10)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return Code.OK


def expected(method: str, caller: str, follower: bool = False) -> Code:
    """What the caller gets: refused for its credentials, then its role, then
    (by a follower) for what the call would do; else the call's own status."""
    _, rank = CALLERS[caller]
    role, _, allowed = CALLS[method]
    if rank is None:
        return Code.UNAUTHENTICATED
    if rank < RANK[role]:
        return Code.PERMISSION_DENIED
    if follower and method not in FOLLOWER_SERVES:
        return Code.FAILED_PRECONDITION
    return allowed


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("method", list(SERVICE.methods), ids=lambda m: m.name)
async def test_each_call_by_each_caller(
    stub: runner_pb2_grpc.RunnerServiceAsyncStub, method: Any, caller: str
) -> None:
    tenant, _ = CALLERS[caller]
    assert await status_of(stub, method, tenant) == expected(method.name, caller)


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("method", list(SERVICE.methods), ids=lambda m: m.name)
async def test_each_call_by_each_caller_to_a_follower(
    stubs: Stubs, method: Any, caller: str
) -> None:
    tenant, _ = CALLERS[caller]
    status = expected(method.name, caller, follower=True)
    assert await status_of(stubs["follower"], method, tenant) == status


async def test_a_denial_names_the_role_and_says_nothing_of_the_namespace(
    stub: runner_pb2_grpc.RunnerServiceAsyncStub,
) -> None:
    request = runner_pb2.CancelRunRequest(namespace=NAMESPACE, run_id="nope")
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await stub.CancelRun(request, metadata=(("authorization", f"Bearer {READER.token}"),))
    assert denied.value.details() == (
        "CancelRun needs the operator role in namespace 'team-a'; "
        "principal 'reader-a' is reader there"
    )
    wrong = (("authorization", "Bearer not-a-token-of-anyone"),)
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await stub.GetRun(runner_pb2.GetRunRequest(namespace=NAMESPACE, run_id="x"), metadata=wrong)
    assert unknown.value.code() == Code.UNAUTHENTICATED
    assert "not-a-token" not in (unknown.value.details() or "")
    twice = (("authorization", f"Bearer {ADMIN.token}"), ("authorization", "Bearer x"))
    with pytest.raises(grpc.aio.AioRpcError) as several:
        await stub.GetRun(runner_pb2.GetRunRequest(namespace=NAMESPACE, run_id="x"), metadata=twice)
    assert several.value.code() == Code.UNAUTHENTICATED
    huge = (("authorization", "Bearer " + "x" * 6000),)
    with pytest.raises(grpc.aio.AioRpcError) as bounded:
        await stub.GetRun(runner_pb2.GetRunRequest(namespace=NAMESPACE, run_id="x"), metadata=huge)
    assert bounded.value.code() == Code.UNAUTHENTICATED
