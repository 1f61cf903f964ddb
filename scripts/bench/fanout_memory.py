"""Part 2 of the fan-out benchmark (`fanout.py`), memory: a fresh runner;
its RSS (VmRSS of /proc/<pid>/status) at idle after start, the peak while a
batch of ring runs (4 executors, one per process) is in flight at once, and
after they all finished; then again for each further batch, to show whether
RSS grows with finished runs."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

from benchlib import (
    TERMINAL,
    E,
    rss_kib,
    seconds,
    start_bench_runner,
    tail_on_failure,
)

from stepline import RunnerClient, WorkflowBuilder, payloads
from stepline.v1 import runner_pb2, workflow_pb2

RING_WORKFLOW = "bench-ring"


def mib(kib: int) -> str:
    return f"{kib / 1024:7.1f} MiB"


@dataclass
class Batch:
    peak_kib: int  # highest VmRSS sampled while the batch ran
    after_kib: int  # VmRSS once every run ended and the runner settled
    max_in_flight: int  # most runs between their start and their end at one time
    seconds: float  # first start to last end
    failed: int
    executors_kib: list[int]  # each executor process's VmRSS after the batch


@dataclass
class MemoryResult:
    idle_kib: int
    registered_kib: int
    batches: list[Batch]
    hwm_kib: int  # VmHWM at the end: the kernel's own peak


def ring_definition(endpoints: list[str], hops: int) -> workflow_pb2.WorkflowDefinition:
    nodes = [f"ring-{i}" for i in range(len(endpoints))]
    builder = WorkflowBuilder(RING_WORKFLOW, max_supersteps=hops + 5)
    for node, endpoint in zip(nodes, endpoints, strict=True):
        builder.add_executor(node, endpoint, type="ring")
    return (
        builder.add_chain(nodes).add_edge(nodes[-1], nodes[0]).set_start_executor(nodes[0]).build()
    )


async def sample_rss(pid: int, peak: list[int], every: float = 0.01) -> None:
    """Keep `peak[0]` at the highest VmRSS seen, until cancelled."""
    while True:
        peak[0] = max(peak[0], rss_kib(pid))
        await asyncio.sleep(every)


def most_overlapping(runs: list[runner_pb2.Run]) -> int:
    """The most runs in flight at one moment: created_at to (final) updated_at."""
    edges = sorted(
        [(seconds(r.created_at), 1) for r in runs] + [(seconds(r.updated_at), -1) for r in runs]
    )
    current = best = 0
    for _, delta in edges:
        current += delta
        best = max(best, current)
    return best


async def batch_runs(client: RunnerClient, prefix: str, count: int) -> list[runner_pb2.Run]:
    """This batch's runs: every start has returned, so they are the newest `count`."""
    runs: list[runner_pb2.Run] = []
    async for run in client.list_runs(RING_WORKFLOW, page_size=count):
        if not run.run_id.startswith(prefix) or len(runs) == count:
            break
        runs.append(run)
    return runs


async def one_batch(
    client: RunnerClient,
    runner_pid: int,
    executor_pids: list[int],
    batch: int,
    runs: int,
    hops: int,
    delay_ms: int,
    settle: float,
) -> Batch:
    prefix = f"b{batch}-"
    lap = payloads.encode({"hops_left": hops, "delay_ms": delay_ms}, type_name="Lap")
    peak = [rss_kib(runner_pid)]
    sampler = asyncio.create_task(sample_rss(runner_pid, peak))
    try:
        await asyncio.gather(
            *(client.start_run(RING_WORKFLOW, lap, run_id=f"{prefix}{i}") for i in range(runs))
        )
        async with asyncio.timeout(300):
            while True:
                listed = await batch_runs(client, prefix, runs)
                if len(listed) == runs and all(r.status in TERMINAL for r in listed):
                    break
                await asyncio.sleep(0.25)
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    await asyncio.sleep(settle)
    first = min(seconds(r.created_at) for r in listed)
    last = max(seconds(r.updated_at) for r in listed)
    return Batch(
        peak_kib=peak[0],
        after_kib=rss_kib(runner_pid),
        max_in_flight=most_overlapping(listed),
        seconds=last - first,
        failed=sum(r.status != E.RUN_STATUS_COMPLETED for r in listed),
        executors_kib=[rss_kib(pid) for pid in executor_pids],
    )


async def part_memory(
    endpoints: list[str],
    executor_pids: list[int],
    runs: int,
    batches: int,
    hops: int,
    delay_ms: int,
    settle: float,
    workdir: Path,
) -> MemoryResult:
    async with await start_bench_runner(workdir, "memory") as runner:
        pid = runner.process.pid
        await asyncio.sleep(settle)
        idle = rss_kib(pid)
        async with RunnerClient(runner.address) as client:
            await client.register_workflow(ring_definition(endpoints, hops))
            await asyncio.sleep(settle)
            registered = rss_kib(pid)
            done: list[Batch] = []
            for b in range(1, batches + 1):
                async with tail_on_failure(runner):
                    result = await one_batch(
                        client, pid, executor_pids, b, runs, hops, delay_ms, settle
                    )
                print(
                    f"memory batch {b}/{batches}: peak {mib(result.peak_kib)}, after "
                    f"{mib(result.after_kib)}, {result.max_in_flight} in flight at most",
                    flush=True,
                )
                done.append(result)
        hwm = rss_kib(pid, "VmHWM")
    return MemoryResult(idle, registered, done, hwm)


# -- report


def report_memory(m: MemoryResult, runs: int, hops: int, delay_ms: int) -> None:
    print()
    print(
        f"RUNNER MEMORY (VmRSS): batches of {runs} concurrent runs of a 4-executor ring, "
        f"{hops} supersteps each, {delay_ms} ms of work per Execute"
    )
    print(f"  idle after start         {mib(m.idle_kib)}")
    print(f"  after registering        {mib(m.registered_kib)}")
    for i, b in enumerate(m.batches, 1):
        print(
            f"  batch {i}: peak in flight {mib(b.peak_kib)}  ({b.max_in_flight}/{runs} at once, "
            f"{b.seconds:.1f} s, {b.failed} failed)"
        )
        print(f"  batch {i}: after finish   {mib(b.after_kib)}")
    print(f"  VmHWM (kernel peak)      {mib(m.hwm_kib)}")
    print(
        "  executor processes after the last batch: "
        + ", ".join(mib(k).strip() for k in m.batches[-1].executors_kib)
    )
    if len(m.batches) > 1:
        first, last = m.batches[0], m.batches[-1]
        finished = runs * (len(m.batches) - 1)
        grown = last.after_kib - first.after_kib
        print(
            f"  after batch {len(m.batches)} vs after batch 1: {grown / 1024:+.1f} MiB over "
            f"{finished} more finished runs ({grown * 1024 / finished:+.0f} bytes/run); "
            f"peak {(last.peak_kib - first.peak_kib) / 1024:+.1f} MiB"
        )
        kept = last.after_kib > first.peak_kib
        print(
            "  RSS after a batch moves by a few MiB either way (the allocator keeps some freed\n"
            "  memory); finished runs kept in memory would lift it above the first batch's peak:\n"
            f"  {'GROWS: above the first peak' if kept else 'does not grow with finished runs'}"
        )
