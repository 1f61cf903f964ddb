"""One trace from the client through the runner into two executor services:
four processes, each exporting its spans to a JSON-lines file of its own,
joined by trace id. The trace must hold the client's call, every superstep,
every executor call and handler span, each under the right parent."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from stepline import RunnerClient, testing
from stepline.v1 import events_pb2 as E
from tests.executors.stages import Token
from tests.support.metrics import scrape
from tests.support.processes import ROOT, require_node, start_executors
from tests.support.runs import stage_loop

HOPS = 4  # supersteps: a, b, a, b
Span = dict[str, Any]


def read_spans(*paths: Path) -> list[Span]:
    return [json.loads(line) for p in paths for line in p.read_text().splitlines()]


def tracing_env(path: Path, service: str) -> dict[str, str]:
    return {
        "OTEL_TRACES_EXPORTER": "jsonl",
        "STEPLINE_TRACES_FILE": str(path),
        "OTEL_SERVICE_NAME": service,
    }


@pytest.mark.parametrize("session", [False, True], ids=["unary", "session"])
async def test_one_trace_follows_a_run_across_four_processes(tmp_path: Path, session: bool) -> None:
    """Unary: a SaveCheckpoint call (and span) for every superstep. Session
    (the runner's metrics on too): every Execute on the stream, the state
    returned with it, each call still a client span with the executor's
    server span under it, and timed."""
    files = {name: tmp_path / f"{name}.jsonl" for name in ("client", "runner", "first", "second")}
    path = {} if session else {"STEPLINE_FAST_PATH": "off"}
    first = await start_executors(
        "observed", {**tracing_env(files["first"], "executors-1"), **path}
    )
    second = await start_executors(
        "observed", {**tracing_env(files["second"], "executors-2"), **path}
    )
    runner = await testing.start_runner(
        tmp_path / "stepline.db",
        0,
        "--metrics-port",
        "0",
        env=tracing_env(files["runner"], "stepline-runner"),
        cwd=ROOT,
        log=tmp_path / "runner.log",
    )
    try:
        client = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.support.traced_client",
            runner.address,
            first.address,
            second.address,
            str(HOPS),
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
            env={**os.environ, **tracing_env(files["client"], "stepline-client")},
        )
        out, _ = await asyncio.wait_for(client.communicate(), 60)
        assert client.returncode == 0, "the client process failed"
        assert runner.metrics_port is not None
        timed = await scrape(runner.metrics_port)
    finally:
        # A clean stop flushes each process's batched spans to its file.
        for process in (runner, first, second):
            await process.stop()
    trace_id = json.loads(out)["trace_id"]

    spans = [s for s in read_spans(*files.values()) if s["trace_id"] == trace_id]
    by_id = {s["span_id"]: s for s in spans}
    children: dict[str | None, list[Span]] = defaultdict(list)
    for s in spans:
        children[s["parent_id"]].append(s)

    def only(parent: Span, name: str, service: str | None = None) -> Span:
        found = [
            c
            for c in children[parent["span_id"]]
            if c["name"] == name and service in (None, c["service"])
        ]
        assert len(found) == 1, f"{name} under {parent['name']}: {len(found)}"
        return found[0]

    def within(child: Span, parent: Span) -> None:
        assert parent["start_ns"] <= child["start_ns"] <= child["end_ns"] <= parent["end_ns"]

    # Every span of the trace hangs from the client's root span.
    (root,) = children[None]
    assert (root["name"], root["service"]) == ("client run", "stepline-client")
    assert all(s["parent_id"] in by_id for s in spans if s is not root)

    start_call = only(root, "RunnerService/StartRun", "stepline-client")
    assert start_call["kind"] == "CLIENT"
    start_served = only(start_call, "RunnerService/StartRun", "stepline-runner")
    assert start_served["kind"] == "SERVER"
    run = only(start_served, "run", "stepline-runner")
    assert run["attributes"]["stepline.workflow_id"] == "traced"

    supersteps = sorted(
        (c for c in children[run["span_id"]] if c["name"] == "superstep"),
        key=lambda s: s["attributes"]["stepline.superstep"],
    )
    assert [s["attributes"]["stepline.superstep"] for s in supersteps] == [1, 2, 3, 4]
    for step, superstep in enumerate(supersteps, 1):
        within(superstep, run)
        executor_id, service = ("a", "executors-1") if step % 2 else ("b", "executors-2")
        call = only(superstep, "Execute hop", "stepline-runner")
        assert (call["kind"], call["attributes"]["stepline.executor_id"]) == ("CLIENT", executor_id)
        assert call["attributes"].get("stepline.session", False) is session
        within(call, superstep)
        served = only(call, "ExecutorService/Execute", service)
        assert served["kind"] == "SERVER"
        assert served["attributes"].get("stepline.session", False) is session
        handled = only(served, "handle hop.on_hop", service)
        assert handled["attributes"]["stepline.superstep"] == step
        within(handled, served)
        user = only(handled, "user work", service)  # user code's own span nests too
        within(user, handled)
        saves = [c for c in children[superstep["span_id"]] if c["name"] == "SaveCheckpoint hop"]
        assert len(saves) == (0 if session else 1)  # the state came with Execute
        for saved in saves:
            only(saved, "ExecutorService/SaveCheckpoint", service)
        commit = only(superstep, "commit", "stepline-runner")
        # Begun at its superstep's end, it goes on during the next one's
        # calls, and lands before that one ends (or the run does).
        ends = supersteps[step]["end_ns"] if step < len(supersteps) else run["end_ns"]
        assert commit["end_ns"] <= ends
        assert (saves or [call])[0]["end_ns"] <= commit["start_ns"], "states come before the commit"

    def calls(method: str) -> float:
        labels = {"workflow": "traced", "executor_type": "hop", "method": method}
        return timed.get("stepline_executor_call_duration_seconds_count", **labels)

    assert (calls("Execute"), calls("SaveCheckpoint")) == (HOPS, 0 if session else HOPS)


async def test_the_node_executor_continues_the_runners_trace(tmp_path: Path) -> None:
    require_node()
    node_file, runner_file = tmp_path / "node.jsonl", tmp_path / "runner.jsonl"
    node = await start_executors("node_stages", tracing_env(node_file, "node-executors"))
    runner = await testing.start_runner(
        tmp_path / "stepline.db",
        env=tracing_env(runner_file, "stepline-runner"),
        cwd=ROOT,
        log=tmp_path / "runner.log",
    )
    try:
        async with RunnerClient(runner.address) as client:
            await client.register_workflow(stage_loop("node-traced", [node.address] * 3))
            result = await client.run("node-traced", Token(value=1, hops=0, limit=3))
            assert result.run.status == E.RUN_STATUS_COMPLETED
    finally:
        for process in (runner, node):
            await process.stop()

    spans = read_spans(runner_file, node_file)
    calls = {s["span_id"]: s for s in spans if s["name"] == "Execute stage"}
    served = [s for s in spans if s["name"] == "ExecutorService/Execute"]
    assert len(calls) == 3 and len(served) == 3
    for span in served:
        call = calls[span["parent_id"]]  # each Node server span continues a runner call
        assert (span["service"], span["kind"]) == ("node-executors", "SERVER")
        # Tracing keeps the Session stream, whose requests carry the context.
        assert call["attributes"]["stepline.session"] is span["attributes"]["stepline.session"]
        assert span["attributes"]["stepline.session"] is True
        assert span["trace_id"] == call["trace_id"]
        (handled,) = [s for s in spans if s["parent_id"] == span["span_id"]]
        assert handled["name"] == "handle stage.onToken"
        assert (
            handled["attributes"]["stepline.executor_id"]
            == call["attributes"]["stepline.executor_id"]
        )
