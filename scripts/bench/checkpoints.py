"""Checkpoint storage benchmark: database bytes per superstep against the bytes
of state that changed, and the time to save and to restore a checkpoint.

The issue's workload: 32 executors with ~10 KB of state each, one of them
changing per superstep, 1,000 supersteps; target: database bytes per superstep
at most 2x the changed bytes plus a small fixed overhead.

32 `cell` executors and one `driver` (`scripts/bench/checkpoint_executors.py`)
are spread over `--processes` executor services, each its own process; each
variant gets a runner of its own (`python -m stepline_runner`, its own process,
a fresh SQLite file) that checkpoints every superstep. Variants:

- `all`: every cell loops to itself, so all 32 run in every superstep and the
  runner asks all 32 for their state; 31 answer `unchanged`, one sends its
  new 10 KB. The tougher case for storage: every checkpoint references 33
  states, and the superstep logs 32 invocations.
- `one`: the cells form a ring, so one cell runs per superstep (the one whose
  turn it is) and only it is asked for its state.
- `tiny`: `all` with 16-character states (`--control-steps` supersteps): what a
  superstep of that graph costs without state bytes, in bytes and in time.

Database bytes are logical: page_count x page_size, read with the per-table
`dbstat` view in one read transaction from a separate connection, with the
superstep the run has committed in that same snapshot; sampled once the run
passes `--warmup` supersteps and again when it has ended, so bytes/superstep =
delta / supersteps between the two and the start-up (every state new) is left
out. Changed bytes/superstep = growth of sum(length(blobs.data)) over the
same supersteps: the state bytes that were new. The verdict:

    DB bytes/superstep <= 2 x changed bytes/superstep + `--fixed-bytes`

`--fixed-bytes` (default 4096, one SQLite page) is the "small fixed overhead".

Time to save: the SaveCheckpoint phase, called on the executor services
directly from this process as the runner calls it (in parallel, 32 x 10 KB
states restored under a probe run): all 32 full, 1 full + 31 `unchanged`
(variant `all`), one full (variant `one`); and end to end, the median superstep
of `all` against `tiny`. Time to restore: `RunnerClient.resume(checkpoint,
fork=True)` of the `all` run's last checkpoint (33 states, 32 x 10 KB): the
runner reads it from SQLite, verifies the hashes, calls RestoreCheckpoint on
all 33 executors in parallel and commits the fork's first checkpoint before
it answers; median of `--forks`. Each fork has nothing left to do and ends at
once; the next fork starts after it has ended.

It prints the numbers and verdicts and exits 0: a report, not a test.

    python scripts/bench/checkpoints.py [--steps 1000] [--cells 32] [--size 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import grpc
from benchlib import (
    E,
    check_completed,
    check_supersteps,
    parser,
    run_benchmark,
    seconds,
    start_bench_runner,
    start_executors,
    tail_on_failure,
    workdir,
)
from checkpoints_report import Probe, Result, Sample, Variant, ms, report

from stepline import RunnerClient, WorkflowBuilder, payloads
from stepline.limits import GRPC_MESSAGE_OPTIONS
from stepline.testing import Service
from stepline.v1 import executor_pb2, executor_pb2_grpc, payload_pb2, workflow_pb2
from stepline_runner.store.usage import read_usage

# -- the database, as the runner left it


def sample_db(path: Path) -> Sample:
    return read_usage(path)


def truncate_wal(path: Path) -> tuple[int, int]:
    """Checkpoint the WAL into the file from a connection of our own; return
    (busy flag, file size afterwards)."""
    con = sqlite3.connect(path, isolation_level=None)
    try:
        (busy, _, _) = con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        con.close()
    return int(busy), path.stat().st_size


def cell_id(i: int) -> str:
    return f"cell-{i:02d}"


def definition(
    workflow_id: str, invoke: str, cells: int, endpoints: list[str], steps: int
) -> workflow_pb2.WorkflowDefinition:
    """Cell i on service i % len(endpoints); the driver on the first."""
    b = WorkflowBuilder(workflow_id, max_supersteps=steps + 10)
    b.add_executor("driver", endpoints[0], type="driver")
    ids = [cell_id(i) for i in range(cells)]
    for i, x in enumerate(ids):
        b.add_executor(x, endpoints[i % len(endpoints)], type="cell")
    if invoke == "all":
        b.add_fan_out("driver", ids)
        for x in ids:
            b.add_edge(x, x)
    else:
        b.add_edge("driver", ids[2 % cells])  # the cell whose turn superstep 2 is
        for i, x in enumerate(ids):
            b.add_edge(x, ids[(i + 1) % cells])
    return b.set_start_executor("driver").build()


def tick(cells: int, limit: int, size: int) -> payload_pb2.Payload:
    """The executors' `Tick` dataclass as it travels."""
    return payloads.encode({"cells": cells, "limit": limit, "size": size}, type_name="Tick")


async def run_variant(
    v: Variant, cells: int, endpoints: list[str], warmup: int, workdir: Path
) -> Result:
    async with (
        await start_bench_runner(workdir, v.name) as runner,
        tail_on_failure(runner),
        RunnerClient(runner.address) as client,
    ):
        db = workdir / f"{v.name}.db"
        workflow_id = f"bench-checkpoints-{v.name}"
        await client.register_workflow(definition(workflow_id, v.invoke, cells, endpoints, v.steps))
        run = await client.start_run(workflow_id, tick(cells, v.steps, v.size))
        times: dict[int, float] = {}
        early: asyncio.Task[Sample] | None = None
        async with asyncio.timeout(600):
            async for event in client.watch(run.run_id, kinds=[E.EVENT_KIND_SUPERSTEP_COMPLETED]):
                times[event.superstep] = seconds(event.time)
                if early is None and event.superstep >= warmup:
                    early = asyncio.create_task(asyncio.to_thread(sample_db, db))
        run = await client.get_run(run.run_id)
        check_completed(run, f"variant {v.name}: the run")
        check_supersteps(times, v.steps)
        if early is None:
            raise RuntimeError(f"variant {v.name}: no sample after superstep {warmup}")
        first = await early
        final = await asyncio.to_thread(sample_db, db)
        if final.last_superstep != v.steps or first.last_superstep >= final.last_superstep:
            raise RuntimeError(
                f"variant {v.name}: samples at supersteps {first.last_superstep},"
                f" {final.last_superstep}"
            )
        busy, file_bytes = await asyncio.to_thread(truncate_wal, db)
        result = Result(v, first, final, times, file_bytes, busy, warmup)
        if v.forks:
            await time_restore(client, run.latest_checkpoint_id, v.forks, result)
    return result


async def timed(call: Awaitable[Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    value = await call
    return time.perf_counter() - t0, value


async def time_restore(client: RunnerClient, checkpoint_id: str, forks: int, out: Result) -> None:
    checkpoint = await client.get_checkpoint(checkpoint_id, include_content=True)
    states = checkpoint.content.executor_states
    out.fork_states = len(states)
    out.fork_state_bytes = sum(len(p.data) for p in states.values())
    for i in range(forks + 2):  # the first two warm up
        seconds, _ = await timed(client.get_checkpoint(checkpoint_id, include_content=True))
        if i >= 2:
            out.load.append(seconds)
    for i in range(forks + 2):
        seconds, fork = await timed(client.resume(checkpoint_id, fork=True))
        result = await client.wait(fork.run_id)  # raises unless it completed
        check_completed(result.run, f"fork {fork.run_id}")
        if i >= 2:
            out.forks.append(seconds)


# -- SaveCheckpoint and RestoreCheckpoint, called directly


async def probe_executors(endpoints: list[str], cells: int, size: int, rounds: int) -> Probe:
    """Restore `cells` cells with a `size`-character state under a probe run on
    the executor services, then time parallel SaveCheckpoint calls as the
    runner makes them."""
    channels = [grpc.aio.insecure_channel(e, options=GRPC_MESSAGE_OPTIONS) for e in endpoints]
    stubs = [executor_pb2_grpc.ExecutorServiceStub(c) for c in channels]
    run_id = "checkpoint-probe"
    ids = [cell_id(i) for i in range(cells)]

    def stub(i: int) -> Any:
        return stubs[i % len(stubs)]

    text = base64.b64encode(os.urandom(size)).decode()[:size]
    state = json.dumps({"text": text, "version": 0}, separators=(",", ":")).encode()

    def restore_request(x: str) -> executor_pb2.RestoreCheckpointRequest:
        return executor_pb2.RestoreCheckpointRequest(
            run_id=run_id,
            executor_id=x,
            executor_type="cell",
            state=payload_pb2.Payload(
                type_name="cell.state", content_type=payloads.JSON, data=state
            ),
        )

    def save_request(x: str, known: str) -> executor_pb2.SaveCheckpointRequest:
        return executor_pb2.SaveCheckpointRequest(
            run_id=run_id, executor_id=x, executor_type="cell", known_state_hash=known
        )

    probe = Probe()
    try:
        await asyncio.gather(
            *(stub(i).RestoreCheckpoint(restore_request(x)) for i, x in enumerate(ids))
        )
        saved = await stub(0).SaveCheckpoint(save_request(ids[0], ""))
        probe.state_bytes = len(saved.state.data)
        known = hashlib.sha256(saved.state.data).hexdigest()

        async def parallel(requests: list[tuple[int, Any]], method: str) -> list[Any]:
            return list(await asyncio.gather(*(getattr(stub(i), method)(r) for i, r in requests)))

        restore = [(i, restore_request(x)) for i, x in enumerate(ids)]
        full = [(i, save_request(x, "")) for i, x in enumerate(ids)]
        unchanged = [(i, save_request(x, known)) for i, x in enumerate(ids)]
        mixed = [full[0], *unchanged[1:]]
        plans: list[tuple[list[float], list[tuple[int, Any]], str]] = [
            (probe.restore_all, restore, "RestoreCheckpoint"),
            (probe.save_full, full, "SaveCheckpoint"),
            (probe.save_mixed, mixed, "SaveCheckpoint"),
            (probe.save_unchanged, unchanged, "SaveCheckpoint"),
            (probe.save_one, full[:1], "SaveCheckpoint"),
        ]
        for samples, requests, method in plans:
            for r in range(rounds + 3):
                seconds, responses = await timed(parallel(requests, method))
                if method == "SaveCheckpoint":
                    answered = sum(len(x.state.data) for x in responses)
                    expected = sum(
                        0 if q.known_state_hash else probe.state_bytes for _, q in requests
                    )
                    if answered != expected:
                        raise RuntimeError(f"SaveCheckpoint sent {answered} bytes, not {expected}")
                if r >= 3:
                    samples.append(seconds)
        for s in stubs[: min(len(stubs), cells)]:
            await s.EndRun(executor_pb2.EndRunRequest(run_id=run_id))
    finally:
        for c in channels:
            await c.close(None)
    return probe


async def main_async(args: argparse.Namespace) -> None:
    started = time.monotonic()
    variants = [
        Variant("all", "all", args.size, args.steps, forks=args.forks),
        Variant("one", "one", args.size, args.steps),
        Variant("tiny", "all", 16, args.control_steps),
    ]
    results: list[Result] = []
    with workdir(args.keep) as tmp:
        services: list[Service] = []
        try:
            for i in range(args.processes):
                services.append(
                    await start_executors("checkpoint_executors.py", tmp, f"executors-{i}")
                )
            endpoints = [s.address for s in services]
            for v in variants:
                r = await run_variant(v, args.cells, endpoints, args.warmup, tmp)
                print(
                    f"variant {v.name}: {r.db_per_step:,.0f} DB bytes/superstep,"
                    f" superstep {ms(r.superstep_median())} ({time.monotonic() - started:.0f}s)",
                    flush=True,
                )
                results.append(r)
            probe = await probe_executors(endpoints, args.cells, args.size, args.rounds)
        finally:
            for s in services:
                await s.stop()
    report(results, probe, args.cells, args.processes, args.fixed_bytes, args.warmup)
    print(f"\n({time.monotonic() - started:.0f}s)")


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--steps", type=int, default=1000, help="supersteps (default: 1000)")
    options.add_argument("--cells", type=int, default=32, help="cell executors (default: 32)")
    options.add_argument(
        "--size", type=int, default=10_000, help="characters per cell state (default: 10000)"
    )
    options.add_argument("--processes", type=int, default=2, help="executor processes (default: 2)")
    options.add_argument(
        "--warmup", type=int, default=100, help="first sample after this superstep (default: 100)"
    )
    options.add_argument(
        "--control-steps", type=int, default=300, help="supersteps of variant tiny (default: 300)"
    )
    options.add_argument("--forks", type=int, default=20, help="timed forks (default: 20)")
    options.add_argument(
        "--rounds", type=int, default=50, help="rounds of each direct call (default: 50)"
    )
    options.add_argument(
        "--fixed-bytes",
        type=int,
        default=4096,
        help="the allowed fixed overhead per superstep (default: 4096, one page)",
    )
    options.add_argument(
        "--keep", metavar="DIR", help="keep the SQLite files and logs in DIR (default: a temp dir)"
    )
    args = options.parse_args()
    if args.cells < 3 or args.steps < args.warmup + 50 or args.control_steps < args.warmup + 50:
        options.error("need --cells >= 3 and --steps, --control-steps >= --warmup + 50")
    run_benchmark(main_async(args))


if __name__ == "__main__":
    main()
