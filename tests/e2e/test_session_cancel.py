"""A run cancelled while its executor call is in flight stops that call's
handler in the executor service, on the Session stream as on a unary call,
with the runner and the service in processes of their own: the first run's
call has a stream to itself (cancelled with it), the second run's shares the
other stream (cancelled by a `SessionRequest.cancel`). `stoppable`
(tests/executors/stoppable.py) marks in a file when its handler starts and
when it is cancelled."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepline import WorkflowBuilder
from stepline.v1 import events_pb2 as E
from tests.support.cluster import Cluster
from tests.support.waiting import until

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize("fast_path", ["on", "off"])
async def test_cancelling_a_run_stops_its_call_in_flight(tmp_path: Path, fast_path: str) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    env = {"STEPLINE_MARK_DIR": str(marks), "STEPLINE_FAST_PATH": fast_path}
    cluster = await Cluster.start(tmp_path, "stoppable", executor_env=env)
    try:
        client = cluster.client()
        workflow = (
            WorkflowBuilder("stoppable")
            .add_executor("w", cluster.addresses[0], type="stoppable")
            .set_start_executor("w")
            .build()
        )
        await client.register_workflow(workflow)
        first = (await client.start_run("stoppable", 1)).run_id
        await until((marks / f"{first}.entered").exists, "the first run's call")
        second = (await client.start_run("stoppable", 2)).run_id
        await until((marks / f"{second}.entered").exists, "the second run's call")

        await client.cancel_run(second)
        await until((marks / f"{second}.stopped").exists, "the second run's handler stopped")
        assert not (marks / f"{first}.stopped").exists()  # another run's call goes on
        await client.cancel_run(first)
        await until((marks / f"{first}.stopped").exists, "the first run's handler stopped")
        for run_id in (first, second):
            assert (await client.get_run(run_id)).status == E.RUN_STATUS_CANCELLED
    finally:
        await cluster.close()
