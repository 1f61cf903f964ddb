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

from stepline import testing
from tests.support.processes import ROOT, start_executors

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


async def test_one_trace_follows_a_run_across_four_processes(tmp_path: Path) -> None:
    files = {name: tmp_path / f"{name}.jsonl" for name in ("client", "runner", "first", "second")}
    first = await start_executors("observed", tracing_env(files["first"], "executors-1"))
    second = await start_executors("observed", tracing_env(files["second"], "executors-2"))
    runner = await testing.start_runner(
        tmp_path / "stepline.db",
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
        within(call, superstep)
        served = only(call, "ExecutorService/Execute", service)
        assert served["kind"] == "SERVER"
        handled = only(served, "handle hop.on_hop", service)
        assert handled["attributes"]["stepline.superstep"] == step
        within(handled, served)
        user = only(handled, "user work", service)  # user code's own span nests too
        within(user, handled)
        saved = only(superstep, "SaveCheckpoint hop", "stepline-runner")
        only(saved, "ExecutorService/SaveCheckpoint", service)
        commit = only(superstep, "commit", "stepline-runner")
        within(commit, superstep)
        assert saved["end_ns"] <= commit["start_ns"], "states are saved before the commit"
