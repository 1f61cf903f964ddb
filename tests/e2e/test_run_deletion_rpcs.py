"""DeleteRun, ListRuns filters and --delete-finished-after over real gRPC, on
a runner process: precise statuses for bad requests, nothing else touched."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
import pytest_asyncio
from google.protobuf.timestamp_pb2 import Timestamp

from stepline import FailedPreconditionError, InvalidArgumentError, NotFoundError
from stepline.v1 import events_pb2 as E
from stepline.v1 import runner_pb2, runner_pb2_grpc
from tests.executors.stages import Token
from tests.support.cluster import Cluster, cluster_fixture
from tests.support.runs import stage_loop

cluster = cluster_fixture("stages", "stages")


@pytest_asyncio.fixture
async def stub(cluster: Cluster) -> AsyncIterator[runner_pb2_grpc.RunnerServiceAsyncStub]:
    async with grpc.aio.insecure_channel(cluster.runner.address) as channel:
        yield runner_pb2_grpc.RunnerServiceStub(channel)


async def test_delete_run_refuses_a_running_run_then_deletes_it_once_cancelled(
    cluster: Cluster,
) -> None:
    client = cluster.client()
    await client.register_workflow(stage_loop("loop", cluster.addresses))
    done = await client.run("loop", Token(1, 0, 3))
    slow = await client.start_run("loop", Token(1, 0, 1000, delay_ms=20))
    before = cluster.dump()

    with pytest.raises(FailedPreconditionError, match="cancel it, then delete it"):
        await client.delete_run(slow.run_id)
    with pytest.raises(NotFoundError):
        await client.delete_run("never-was")
    with pytest.raises(InvalidArgumentError):
        await client.delete_run("")
    assert (await client.get_run(slow.run_id)).status == E.RUN_STATUS_RUNNING

    deleted = await client.delete_run(done.run.run_id)
    assert deleted.events_removed == done.run.last_sequence
    assert deleted.checkpoints_removed >= 1
    with pytest.raises(NotFoundError):
        await client.get_run(done.run.run_id)
    assert len(cluster.dump()) < len(before)

    await client.cancel_run(slow.run_id)
    await client.delete_run(slow.run_id)
    assert [r async for r in client.list_runs()] == []


async def test_list_runs_filters_by_status_and_start_time(cluster: Cluster) -> None:
    client = cluster.client()
    await client.register_workflow(stage_loop("loop", cluster.addresses))
    done = await client.run("loop", Token(1, 0, 3))
    cancelled = await client.start_run("loop", Token(1, 0, 1000, delay_ms=20))
    await client.cancel_run(cancelled.run_id)

    completed = [r.run_id async for r in client.list_runs(statuses=[E.RUN_STATUS_COMPLETED])]
    assert completed == [done.run.run_id]
    ended = [
        r.run_id
        async for r in client.list_runs(
            statuses=[E.RUN_STATUS_CANCELLED, E.RUN_STATUS_COMPLETED], page_size=1
        )
    ]
    assert ended == [cancelled.run_id, done.run.run_id]
    started = cancelled.created_at.ToDatetime(tzinfo=UTC)
    assert [r.run_id async for r in client.list_runs(created_after=started)] == [cancelled.run_id]
    assert [r.run_id async for r in client.list_runs(created_before=started)] == [done.run.run_id]
    later = datetime.now(UTC) + timedelta(days=1)
    assert [r async for r in client.list_runs(created_after=later)] == []


def _with_statuses(*statuses: int) -> runner_pb2.ListRunsRequest:
    """Raw numbers, as a client on an older or newer contract may send."""
    request = runner_pb2.ListRunsRequest()
    request.statuses.extend(statuses)  # type: ignore[arg-type]
    return request


@pytest.mark.parametrize(
    "request_",
    [
        _with_statuses(0),
        _with_statuses(1234567),
        runner_pb2.ListRunsRequest(statuses=[E.RUN_STATUS_RUNNING] * 5000),
        runner_pb2.ListRunsRequest(created_after=Timestamp(seconds=-(2**40))),
        runner_pb2.ListRunsRequest(created_before=Timestamp(nanos=-1)),
        runner_pb2.ListRunsRequest(
            created_after=Timestamp(seconds=20), created_before=Timestamp(seconds=10)
        ),
    ],
    ids=["unspecified", "unknown", "too-many", "before-year-1", "bad-nanos", "reversed"],
)
async def test_bad_list_filters_are_invalid_argument(
    stub: runner_pb2_grpc.RunnerServiceAsyncStub, request_: runner_pb2.ListRunsRequest
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListRuns(request_)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(caught.value.details() or "") < 300


async def test_a_huge_run_id_to_delete_is_not_found_with_a_short_message(
    stub: runner_pb2_grpc.RunnerServiceAsyncStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.DeleteRun(runner_pb2.DeleteRunRequest(run_id="r" * 1_000_000))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert len(caught.value.details() or "") < 300


async def test_a_runner_with_retention_deletes_old_finished_runs_when_it_starts(
    cluster: Cluster,
) -> None:
    client = cluster.client()
    await client.register_workflow(stage_loop("loop", cluster.addresses))
    done = await client.run("loop", Token(1, 0, 3))
    ended_at = done.run.updated_at.ToDatetime(tzinfo=UTC)
    await cluster.kill_runner()

    # The sweep at start is over before the runner says it listens; a run
    # that ended moments ago is younger than a day and stays...
    cluster.runner_options = ("--delete-finished-after", "1d")
    await cluster.start_runner()
    client = cluster.client()
    assert (await client.get_run(done.run.run_id)).status == E.RUN_STATUS_COMPLETED
    await cluster.kill_runner()

    # ...and with an age it has outlived, it goes.
    age = (datetime.now(UTC) - ended_at).total_seconds() / 2
    cluster.runner_options = ("--delete-finished-after", f"{age:.3f}s")
    await cluster.start_runner()
    client = cluster.client()
    with pytest.raises(NotFoundError):
        await client.get_run(done.run.run_id)
