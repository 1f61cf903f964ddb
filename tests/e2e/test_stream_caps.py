"""A principal holds at most `--limit watchers` streams of events open at once
(WatchRun and WatchRuns together); the next is refused RESOURCE_EXHAUSTED,
and a stream that ends gives its place back. Real runner, real gRPC."""

from __future__ import annotations

import asyncio

import pytest

from stepline import RunnerClient
from stepline.errors import ResourceExhaustedError
from stepline.reasons import Reason
from stepline.v1 import events_pb2 as E
from tests.executors.approvals import Decision, Order, approve_workflow
from tests.support.cluster import Cluster, cluster_fixture

pytestmark = pytest.mark.asyncio(loop_scope="module")

cluster = cluster_fixture("approvals", scope="module", runner_options=["--limit", "watchers=2"])


async def opened(
    client: RunnerClient, run_id: str, until: E.RunStatus = E.RUN_STATUS_UNSPECIFIED
) -> asyncio.Task[list[int]]:
    """A stream of the run, once its first event came (or one with status
    `until`): it holds a place then."""
    there: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def follow() -> list[int]:
        seen = []
        async for event in client.watch(run_id, reconnect_timeout=0):
            seen.append(event.sequence)
            if not there.done() and until in (E.RUN_STATUS_UNSPECIFIED, event.status):
                there.set_result(None)
        return seen

    task = asyncio.create_task(follow())
    async with asyncio.timeout(30):
        await there
    return task


async def test_a_third_stream_of_one_principal_is_refused_until_one_ends(
    cluster: Cluster,
) -> None:
    client = cluster.client()
    await client.register_workflow(approve_workflow(cluster.addresses[0]))
    run = await client.start_run("approve", Order("o-1", 250))
    one = await opened(client, run.run_id, until=E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS)
    two = await opened(client, run.run_id)

    with pytest.raises(ResourceExhaustedError, match="watchers=2") as refused:
        async for _ in client.watch(run.run_id, reconnect_timeout=0):
            pass
    assert refused.value.reason == Reason.TOO_MANY_WATCHERS
    with pytest.raises(ResourceExhaustedError, match="watchers=2"):  # WatchRuns counts too
        async with client.watch_all() as events:
            await events.subscribed()  # returns once it ended: reading says why
            async for _ in events:
                pass

    (request,) = await client.list_pending_requests(run.run_id)
    await client.send_responses(run.run_id, {request.request_id: Decision(True, "ann")})
    async with asyncio.timeout(30):
        ended = await asyncio.gather(one, two)  # ended by the run's end: their places are back
    three = [e async for e in client.watch(run.run_id, reconnect_timeout=0)]
    assert [e.sequence for e in three] == ended[0] == ended[1]
    assert three[-1].status == E.RUN_STATUS_COMPLETED
