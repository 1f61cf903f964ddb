"""The runner's and an executor service's Prometheus endpoints, scraped after
real runs over real processes: a completed run, a failed one, one waiting for
input then cancelled, and one whose executor service is killed and restarted
(a rollback). Values are checked, not only names."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from stepline import (
    ResourceExhaustedError,
    RunFailedError,
    RunnerClient,
    testing,
)
from stepline.v1 import events_pb2 as E
from stepline.v1 import workflow_pb2
from tests.executors.observed import Hop, hop_pair
from tests.support.metrics import scrape
from tests.support.processes import ROOT, Service, on_free_port, start_executors
from tests.support.runs import until_superstep, until_waiting

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Setup:
    runner: Service
    executor: Service
    executor_port: int  # the executor service comes back on it after a kill
    env: dict[str, str]
    client: RunnerClient
    tmp: Path

    @property
    def runner_metrics(self) -> int:
        return metrics_port(self.runner)

    @property
    def executor_metrics(self) -> int:
        return metrics_port(self.executor)

    def workflow(self, workflow_id: str) -> workflow_pb2.WorkflowDefinition:
        """a -> b -> a ..., both hops in the one executor service."""
        address = f"127.0.0.1:{self.executor_port}"
        return hop_pair(workflow_id, address, address)


def metrics_port(service: Service) -> int:
    assert service.metrics_port is not None, f"{service.name} said nothing of its metrics"
    return service.metrics_port


async def start_runner(tmp: Path) -> Service:
    return await testing.start_runner(
        tmp / "stepline.db",
        0,
        "--metrics-port",
        "0",
        "--retry-backoff",
        "0.05",
        "--log-format",
        "json",
        cwd=ROOT,
        log=tmp / "runner.log",
    )


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def setup(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Setup]:
    tmp: Path = tmp_path_factory.mktemp("metrics")
    env = {
        "STEPLINE_METRICS_PORT": "0",
        # The unary path, so that SaveCheckpoint calls show in the metrics.
        "STEPLINE_FAST_PATH": "off",
    }

    async def start(port: int) -> Service:
        return await start_executors("observed", {**env, "STEPLINE_PORT": str(port)})

    executor_port, executor = await on_free_port(start)
    env["STEPLINE_PORT"] = str(executor_port)
    runner = await start_runner(tmp)
    client = RunnerClient(runner.address)
    setup = Setup(runner, executor, executor_port, env, client, tmp)
    try:
        yield setup
    finally:
        await setup.client.close()
        await setup.runner.kill()
        await setup.executor.kill()


async def test_completed_failed_and_cancelled_runs_show_in_the_metrics(setup: Setup) -> None:
    client = setup.client
    for workflow_id in ("m-ok", "m-fail", "m-ask"):
        await client.register_workflow(setup.workflow(workflow_id))
    before = await scrape(setup.runner_metrics)
    host_before = await scrape(setup.executor_metrics)

    ok = await client.run("m-ok", Hop(0, 3))  # a, b, a: three supersteps
    assert ok.run.status == E.RUN_STATUS_COMPLETED
    with pytest.raises(RunFailedError) as failed:
        await client.run("m-fail", Hop(0, 3, fail_at=1))  # b fails in superstep 2
    asking = await client.start_run("m-ask", Hop(0, 1, ask=True))
    await until_waiting(client, asking.run_id)

    waiting = await scrape(setup.runner_metrics)
    assert waiting.get("stepline_open_requests") == 1
    assert waiting.get("stepline_oldest_open_request_age_seconds") > 0
    assert waiting.get("stepline_runs", status="idle_with_pending_requests") == 1
    await client.cancel_run(asking.run_id)
    after = await scrape(setup.runner_metrics)
    host_after = await scrape(setup.executor_metrics)

    def delta(name: str, **labels: str) -> float:
        return after.total(name, **labels) - before.total(name, **labels)

    assert after.get("stepline_open_requests") == 0
    assert after.get("stepline_runs", status="idle_with_pending_requests") == 0
    for workflow in ("m-ok", "m-fail", "m-ask"):
        assert after.get("stepline_runs_started_total", workflow=workflow) == 1
    assert after.get("stepline_runs_finished_total", workflow="m-ok", status="completed") == 1
    assert after.get("stepline_runs_finished_total", workflow="m-fail", status="failed") == 1
    assert after.get("stepline_runs_finished_total", workflow="m-ask", status="cancelled") == 1
    assert delta("stepline_runs", status="completed") == 1
    assert delta("stepline_runs", status="failed") == 1
    assert delta("stepline_runs", status="cancelled") == 1

    # m-ok: three supersteps, one Execute and one SaveCheckpoint in each.
    assert after.get("stepline_superstep_duration_seconds_count", workflow="m-ok") == 3
    count = "stepline_executor_call_duration_seconds_count"
    ok_calls = {"workflow": "m-ok", "executor_type": "hop"}
    assert after.get(count, **ok_calls, method="Execute") == 3
    assert after.get(count, **ok_calls, method="SaveCheckpoint") == 3
    total = "stepline_executor_call_duration_seconds_sum"
    assert after.get(total, **ok_calls, method="Execute") > 0
    assert after.get("stepline_commit_duration_seconds_count", workflow="m-ok") >= 3
    assert after.get("stepline_checkpoint_bytes_written_total", workflow="m-ok") > 0
    # m-ok's 3; m-fail's superstep 1 (its 2 failed); m-ask's superstep 1 (it asked).
    assert delta("stepline_events_published_total", kind="superstep_completed") == 3 + 1 + 1
    assert delta("stepline_events_published_total", kind="run_failed") == 1
    assert delta("stepline_events_published_total", kind="request_info") == 1
    assert after.get("stepline_database_bytes") > 0
    assert not any("run_id" in dict(labels) for _, labels in after.samples)

    # The executor service's own metrics: 3 + 2 + 1 handler calls, one raised.
    handled = "stepline_executor_handler_duration_seconds_count"
    errors = "stepline_executor_handler_errors_total"
    assert (
        host_after.get(handled, executor_type="hop") - host_before.get(handled, executor_type="hop")
        == 6
    )
    assert (
        host_after.get(errors, executor_type="hop") - host_before.get(errors, executor_type="hop")
        == 1
    )

    # --log-format json: the failure is one line naming run, superstep, executor and kind.
    lines = [json.loads(line) for line in (setup.tmp / "runner.log").read_text().splitlines()]
    (failure,) = [
        line
        for line in lines
        if line.get("run_id") == failed.value.run.run_id
        and line.get("event_kind") == "EVENT_KIND_RUN_FAILED"
    ]
    assert (failure["superstep"], failure["executor_id"], failure["level"]) == (2, "b", "WARNING")
    assert failure["workflow_id"] == "m-fail"


async def test_a_killed_executor_service_shows_as_a_rollback_and_retries(setup: Setup) -> None:
    client = setup.client
    await client.register_workflow(setup.workflow("m-roll"))
    run = await client.start_run("m-roll", Hop(0, 8, delay_ms=300))
    await until_superstep(client, run.run_id, 2)

    # Superstep 3's Execute is under way (300 ms): kill its service for real.
    await setup.executor.kill()
    retries = "stepline_executor_unavailable_retries_total"
    await until_positive(setup.runner_metrics, retries, workflow="m-roll")
    setup.executor = await start_executors("observed", setup.env)
    result = await client.wait(run.run_id)
    assert result.run.status == E.RUN_STATUS_COMPLETED

    after = await scrape(setup.runner_metrics)
    assert after.total("stepline_rollbacks_total", workflow="m-roll") == 1
    reasons = {
        dict(labels)["reason"]
        for (name, labels), value in after.samples.items()
        if name == "stepline_rollbacks_total" and value
    }
    assert reasons <= {"executor_unreachable", "executor_restarted"}
    assert after.get("stepline_executor_unavailable_retries_total", workflow="m-roll") >= 1
    assert after.total("stepline_executor_call_errors_total", workflow="m-roll") >= 1
    # Both executors were put back to the checkpoint, timed like any call.
    restores = "stepline_executor_call_duration_seconds_count"
    assert (
        after.get(restores, workflow="m-roll", executor_type="hop", method="RestoreCheckpoint") >= 2
    )
    assert after.get("stepline_runs_finished_total", workflow="m-roll", status="completed") == 1


async def test_open_event_streams_are_counted(setup: Setup) -> None:
    client = setup.client
    await client.register_workflow(setup.workflow("m-watch"))
    run = await client.start_run("m-watch", Hop(0, 1, ask=True))
    await until_waiting(client, run.run_id)
    async for first in client.watch(run.run_id):
        # The stream is open once an event came through it.
        assert first.kind == E.EVENT_KIND_RUN_STARTED
        during = await scrape(setup.runner_metrics)
        break
    await client.cancel_run(run.run_id)
    assert during.get("stepline_active_subscribers", method="WatchRun") == 1


async def test_requests_left_open_are_counted_after_a_runner_restart(setup: Setup) -> None:
    await setup.client.register_workflow(setup.workflow("m-restart"))
    run = await setup.client.start_run("m-restart", Hop(0, 1, ask=True))
    await until_waiting(setup.client, run.run_id)
    await setup.client.close()
    await setup.runner.kill()  # SIGKILL: the new runner learns of the request from the store

    setup.runner = await start_runner(setup.tmp)
    setup.client = RunnerClient(setup.runner.address)
    after = await scrape(setup.runner_metrics)
    await setup.client.cancel_run(run.run_id)
    assert after.get("stepline_open_requests") == 1
    assert after.get("stepline_oldest_open_request_age_seconds") > 0
    assert (await scrape(setup.runner_metrics)).get("stepline_open_requests") == 0


async def limited_runner(setup: Setup, name: str, limit: str) -> Service:
    """A runner of its own, with metrics and `--limit limit`, on `name`.db."""
    return await testing.start_runner(
        setup.tmp / f"{name}.db",
        0,
        *("--metrics-port", "0", "--limit", limit),
        cwd=ROOT,
        log=setup.tmp / f"{name}.log",
    )


async def test_a_watcher_that_falls_behind_counts_as_dropped(setup: Setup) -> None:
    # A runner of its own whose watchers of all runs may buffer almost nothing.
    runner = await limited_runner(setup, "tiny-buffers", "watch_buffer_bytes=64")
    try:
        async with RunnerClient(runner.address) as client:
            await client.register_workflow(setup.workflow("m-drop"))
            watcher = client.watch_all()
            opened = asyncio.ensure_future(anext(watcher))  # subscribes, then waits
            port = metrics_port(runner)
            await until_positive(port, "stepline_active_subscribers", method="WatchRuns")
            await client.run("m-drop", Hop(0, 2))  # each commit is over 64 bytes
            with pytest.raises(ResourceExhaustedError):
                await opened
                async for _ in watcher:
                    pass
            after = await scrape(port)
    finally:
        await runner.kill()
    assert after.get("stepline_subscribers_dropped_total") == 1
    assert after.get("stepline_active_subscribers", method="WatchRuns") == 0


async def test_a_stream_refused_for_the_callers_streams_open_is_not_a_drop(setup: Setup) -> None:
    # RESOURCE_EXHAUSTED too, but TOO_MANY_WATCHERS: no watcher fell behind.
    runner = await limited_runner(setup, "one-stream", "watchers=1")
    try:
        async with RunnerClient(runner.address) as client:
            await client.register_workflow(setup.workflow("m-capped"))
            opened = asyncio.ensure_future(anext(client.watch_all()))  # held open
            port = metrics_port(runner)
            await until_positive(port, "stepline_active_subscribers", method="WatchRuns")
            for _ in range(3):
                with pytest.raises(ResourceExhaustedError, match="watchers=1"):
                    async for _ in client.watch_all():
                        pass
            after = await scrape(port)
            opened.cancel()
    finally:
        await runner.kill()
    assert after.get("stepline_subscribers_dropped_total") == 0
    assert after.get("stepline_active_subscribers", method="WatchRuns") == 1


async def until_positive(port: int, name: str, deadline: float = 30, **labels: str) -> None:
    """Poll the endpoint until the metric is positive (it is what we wait for)."""
    async with asyncio.timeout(deadline):
        for _ in itertools.count():
            if (await scrape(port)).get(name, **labels):
                return
            await asyncio.sleep(0.02)  # polling a condition, not a timed wait
