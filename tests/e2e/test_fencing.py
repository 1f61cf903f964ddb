"""Fencing with real processes: a runner that restarts takes its runs over at
a new epoch, and the calls of the runner it replaced (the old epoch) are
refused by a Python and a Node executor service, changing nothing."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from stepline import RunnerClient, RunResult, payloads
from stepline.errors import error_info
from stepline.limits import GRPC_MESSAGE_OPTIONS
from stepline.v1 import events_pb2 as E
from stepline.v1 import executor_pb2, executor_pb2_grpc, payload_pb2
from tests.executors.stages import Token
from tests.support.cluster import Cluster, cluster_fixture
from tests.support.runs import assert_exact_log, stage_loop, until_superstep

pytestmark = pytest.mark.asyncio(loop_scope="module")

STEPS = 30
TOKEN = Token(value=5, hops=0, limit=STEPS, delay_ms=10)
# a and b on the Python service, c on the Node one (stage_loop with two endpoints).
fenced = cluster_fixture("stages", "node_stages", scope="module", fixed_ports=True)


async def final(client: RunnerClient, result: RunResult) -> tuple[list[Any], dict[str, Any]]:
    states = await client.get_checkpoint_states(result.run.latest_checkpoint_id)
    return [payloads.json_value(p) for p in result.outputs], states


async def refused(call: Any) -> str:
    """The call fails as a stale runner's must; the message it came with."""
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await call
    assert failed.value.code() == grpc.StatusCode.FAILED_PRECONDITION, failed.value.details()
    info = error_info(failed.value)
    assert info is not None and info.reason == "STALE_EPOCH", failed.value.trailing_metadata()
    assert info.metadata["epoch"] == "1"
    return str(failed.value.details())


async def test_a_restarted_runner_fences_out_the_one_it_replaced(fenced: Cluster) -> None:
    client = fenced.client()
    await client.register_workflow(stage_loop("fenced", fenced.addresses, STEPS + 10))
    expected = await final(client, await client.run("fenced", TOKEN))

    run = await client.start_run("fenced", TOKEN)
    assert run.epoch == 1
    await until_superstep(client, run.run_id, 6)
    checkpoints = [c async for c in client.list_checkpoints(run.run_id)]
    early = await client.get_checkpoint(checkpoints[2].checkpoint_id, include_content=True)
    await fenced.restart_runner()  # SIGKILL, then a new runner on the same file
    await client.wait_for_ready()
    await until_superstep(client, run.run_id, 10)
    assert (await client.get_run(run.run_id)).epoch == 2

    # The runner of epoch 1 comes back to life and calls both services.
    python, node = fenced.addresses
    for address, executor_id in ((python, "a"), (node, "c")):
        async with grpc.aio.insecure_channel(address, options=GRPC_MESSAGE_OPTIONS) as channel:
            stub = executor_pb2_grpc.ExecutorServiceStub(channel)
            key: dict[str, Any] = {
                "run_id": run.run_id,
                "executor_id": executor_id,
                "executor_type": "stage",
            }
            stale = payloads.encode(Token(value=1000, hops=0, limit=STEPS))
            execute = executor_pb2.ExecuteRequest(
                **key, superstep=7, epoch=1, messages=[payload_pb2.Message(payload=stale)]
            )
            message = await refused(stub.Execute(execute))
            assert "epoch 1 is older than epoch 2" in message
            old_state = early.content.executor_states[executor_id]
            restore = executor_pb2.RestoreCheckpointRequest(**key, state=old_state, epoch=1)
            await refused(stub.RestoreCheckpoint(restore))
            await refused(stub.SaveCheckpoint(executor_pb2.SaveCheckpointRequest(**key, epoch=1)))

    result = await client.wait(run.run_id)
    assert result.run.status == E.RUN_STATUS_COMPLETED
    assert result.run.epoch == 2
    assert_exact_log(result.events)
    resumed = [e for e in result.events if e.kind == E.EVENT_KIND_RUN_RESUMED]
    assert [e.message for e in resumed] == ["the runner restarted"]
    # None of the stale calls took effect: it ends as an uninterrupted run does.
    assert await final(client, result) == expected
