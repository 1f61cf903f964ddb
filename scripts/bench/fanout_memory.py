"""Runner memory, part 2 of the fan-out benchmark (`fanout.py`), also run on
its own: a fresh runner; its RSS (VmRSS of /proc/<pid>/status) at idle after
start, the peak while a batch of ring runs (4 executors, one per process) is
in flight at once, and after they all finished; then again for each further
batch, to show whether RSS grows with finished runs.

On its own it runs `--rounds` fresh runners of `--batches` batches each, and
with `--base-src DIR` (once or more) the same on the runner of the checkout
in DIR (PYTHONPATH on DIR's `server` and `sdk`; the executors and this
client stay this checkout's), interleaved round by round; it prints each
variant's peak and after-batch RSS over batches 2-N of every round (median,
min, max) and this checkout's medians against each base's.

    python scripts/bench/fanout_memory.py [--runs 200] [--batches 6] [--rounds 3]
        [--base-src DIR ...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from benchlib import (
    TERMINAL,
    E,
    load_average,
    median,
    parser,
    rss_kib,
    run_benchmark,
    seconds,
    start_bench_runner,
    start_executors,
    tail_on_failure,
    workdir,
)

from stepline import RunnerClient, WorkflowBuilder, payloads
from stepline.v1 import runner_pb2, workflow_pb2

RING_WORKFLOW = "bench-ring"


def mib(kib: int) -> str:
    return f"{kib / 1024:7.1f} MiB"


def mib_spread(kibs: list[int]) -> str:
    """ "median M MiB (min-max, n N)" """
    return (
        f"median {median(kibs) / 1024:.1f} MiB ({min(kibs) / 1024:.1f}-{max(kibs) / 1024:.1f},"
        f" n {len(kibs)})"
    )


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
    env: dict[str, str] | None = None,
) -> MemoryResult:
    async with await start_bench_runner(workdir, "memory", env) as runner:
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
        later = m.batches[1:]
        print(
            f"  batches 2-{len(m.batches)}: peak "
            f"{mib_spread([b.peak_kib for b in later])}; after "
            f"{mib_spread([b.after_kib for b in later])}"
        )
        short = [i for i, b in enumerate(m.batches, 1) if b.max_in_flight < runs]
        if short:
            # The peak rises with the runs in flight: such batches compare with nothing.
            print(
                f"  NOT ALL IN FLIGHT in batches {', '.join(map(str, short))}: runs ended "
                "before the last started (a loaded machine; raise --delay-ms)"
            )
        kept = last.after_kib > first.peak_kib
        print(
            "  RSS after a batch moves by a few MiB either way (the allocator keeps some freed\n"
            "  memory); finished runs kept in memory would lift it above the first batch's peak:\n"
            f"  {'GROWS: above the first peak' if kept else 'does not grow with finished runs'}"
        )


# -- on its own: rounds, and base checkouts


def checkout_env(src: Path) -> dict[str, str]:
    """The environment that makes a runner process the checkout in `src`'s."""
    return {"PYTHONPATH": f"{src / 'server'}{os.pathsep}{src / 'sdk'}"}


def report_variants(results: dict[str, list[MemoryResult]], runs: int) -> None:
    print()
    print(f"RUNNER MEMORY BY VARIANT: batches 2-N of every round, {runs} runs a batch (MiB)")
    peaks: dict[str, float] = {}
    for name, rounds in results.items():
        later = [b for m in rounds for b in m.batches[1:]]
        peaks[name] = median(b.peak_kib for b in later) / 1024
        print(f"  {name}: peak {mib_spread([b.peak_kib for b in later])}")
        print(f"  {name}: after {mib_spread([b.after_kib for b in later])}")
        print(
            f"  {name}: first batch's peak "
            f"{mib_spread([m.batches[0].peak_kib for m in rounds])}; in flight "
            f"{min(b.max_in_flight for m in rounds for b in m.batches)}-{runs}"
        )
    for name, peak in peaks.items():
        if name != "this":
            print(f"  peak median: this - {name} = {peaks['this'] - peak:+.1f} MiB")
    print(f"  load average at the end: {load_average()}")


async def main_async(args: argparse.Namespace) -> None:
    variants: dict[str, dict[str, str] | None] = {
        f"base {src}": checkout_env(src.resolve()) for src in args.base_src
    }
    variants["this"] = None
    results: dict[str, list[MemoryResult]] = {name: [] for name in variants}
    with workdir(prefix="stepline-memory-") as tmp:
        async with contextlib.AsyncExitStack() as stack:
            executors = [
                await stack.enter_async_context(
                    await start_executors("fanout_executors.py", tmp, f"executors-{i}")
                )
                for i in range(4)
            ]
            endpoints, pids = [e.address for e in executors], [e.process.pid for e in executors]
            for r in range(1, args.rounds + 1):
                for name, env in variants.items():
                    print(f"round {r}/{args.rounds}, {name} (load {load_average()})", flush=True)
                    result = await part_memory(
                        endpoints,
                        pids,
                        args.runs,
                        args.batches,
                        args.ring_hops,
                        args.delay_ms,
                        args.settle,
                        tmp,
                        env,
                    )
                    results[name].append(result)
    for name, rounds in results.items():
        print(f"\n[{name}, the last round]", end="")
        report_memory(rounds[-1], args.runs, args.ring_hops, args.delay_ms)
    report_variants(results, args.runs)


def add_memory_options(options: argparse.ArgumentParser, batches: int) -> None:
    """The memory part's options (here and in `fanout.py`), `batches` by default."""
    options.add_argument("--runs", type=int, default=200, help="runs per batch (default: 200)")
    options.add_argument(
        "--batches", type=int, default=batches, help=f"memory batches (default: {batches})"
    )
    options.add_argument(
        "--ring-hops", type=int, default=10, help="supersteps of a ring run (default: 10)"
    )
    # Long enough that a batch's runs are all in flight at once: starting 200
    # takes 1-2 s on a loaded machine, and the peak rises with the runs in flight.
    options.add_argument(
        "--delay-ms", type=int, default=300, help="work per ring Execute (default: 300)"
    )
    options.add_argument(
        "--settle", type=float, default=2.0, help="seconds before reading idle RSS (default: 2)"
    )


def main() -> None:
    options = parser(__doc__)
    add_memory_options(options, batches=6)
    options.add_argument("--rounds", type=int, default=1, help="runners a variant (default: 1)")
    options.add_argument(
        "--base-src", type=Path, action="append", default=[], help="a base checkout's runner"
    )
    args = options.parse_args()
    if args.batches < 2:
        options.error("--batches must be at least 2 (the first batch is the reference)")
    run_benchmark(main_async(args))


if __name__ == "__main__":
    main()
