"""Many short runs at once: throughput, latency and the runner's CPU per run.

A 3-superstep chain (`ring` executors of `fanout_executors.py`, a -> b -> c,
c yields) over `--processes` executor processes; for each count in
`--concurrency` (10, 100, 500), that many runs are started at once (one
StartRun each, concurrently) on a fresh runner process and SQLite file, and
the benchmark waits until every one has ended. Per round it reports runs/s
(runs over first `created_at` to last `updated_at`), run latency p50 and p99
(`updated_at - created_at` of each run) and the runner's CPU time (user +
system, /proc) over the round divided by the runs, StartRun included.

`--base-src DIR` runs the same rounds on the checkout in DIR too (its runner
and executor processes with PYTHONPATH on DIR's sdk and server), the two
interleaved round by round so that the machine's load hits both alike.

    python scripts/bench/many_runs.py [--concurrency 10 100 500] [--repeats 3]
        [--base-src DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from benchlib import (
    E,
    cpu_seconds,
    load_average,
    median,
    parser,
    quantile,
    run_benchmark,
    seconds,
    start_bench_runner,
    start_executors,
    tail_on_failure,
    workdir,
)

from stepline import RunnerClient, WorkflowBuilder, payloads
from stepline.testing import Service, stop
from stepline.v1 import runner_pb2, workflow_pb2

WORKFLOW = "chain3"


@dataclass
class Round:
    variant: str
    runs: int
    seconds: float
    latencies: list[float]
    cpu: float  # runner CPU seconds over the round
    failed: int

    @property
    def rate(self) -> float:
        return self.runs / self.seconds

    @property
    def cpu_ms_per_run(self) -> float:
        return self.cpu * 1000 / self.runs


def chain(endpoints: list[str]) -> workflow_pb2.WorkflowDefinition:
    nodes = ["a", "b", "c"]
    builder = WorkflowBuilder(WORKFLOW, max_supersteps=10)
    for i, node in enumerate(nodes):
        builder.add_executor(node, endpoints[i % len(endpoints)], type="ring")
    return builder.add_chain(nodes).set_start_executor("a").build()


def environment(src: Path | None) -> dict[str, str] | None:
    if src is None:
        return None
    return {"PYTHONPATH": f"{src / 'sdk'}{os.pathsep}{src / 'server'}"}


# What a run of the chain not ended yet may be in. The chain sets no
# max_concurrent_runs and waits for no timer, so its runs are never queued or
# waiting for timers; leaving those out keeps the bench runnable against
# runners older than both (652dc2a, where the figures were taken).
UNENDED = [
    E.RUN_STATUS_RUNNING,
    E.RUN_STATUS_RUNNING_WITH_PENDING_REQUESTS,
    E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS,
]


async def unended(client: RunnerClient) -> bool:
    """Whether a run of the round has not ended (one page of one run asked)."""
    runs = client.list_runs(WORKFLOW, page_size=1, statuses=UNENDED)
    return await anext(runs, None) is not None


async def ended(client: RunnerClient, count: int) -> list[runner_pb2.Run]:
    """Every run of the round once all have ended (polled: a watcher per run
    would cost the runner more than the runs). A poll asks for one run not
    ended, 0.5 ms of the runner's CPU; listing all 500 cost 4 ms a poll."""
    async with asyncio.timeout(600):
        while True:
            if not await unended(client):
                runs = [r async for r in client.list_runs(WORKFLOW, page_size=count)]
                if len(runs) == count:
                    return runs
            await asyncio.sleep(0.2)


async def one_round(
    variant: str, src: Path | None, count: int, processes: int, work: Path
) -> Round:
    env = environment(src)
    executors: list[Service] = []
    runner = None
    try:
        for i in range(processes):
            executors.append(
                await start_executors("fanout_executors.py", work, f"{variant}-exec{i}", env)
            )
        runner = await start_bench_runner(work, f"{variant}-runner", env)
        async with tail_on_failure(runner), RunnerClient(runner.address) as client:
            await client.register_workflow(chain([e.address for e in executors]))
            lap = payloads.encode({"hops_left": 3, "delay_ms": 0}, type_name="Lap")
            before = cpu_seconds(runner.process.pid)
            await asyncio.gather(*(client.start_run(WORKFLOW, lap) for _ in range(count)))
            runs = await ended(client, count)
            cpu = cpu_seconds(runner.process.pid) - before
    finally:
        if runner is not None:
            await stop(runner.process)
        for service in executors:
            await stop(service.process)
    first = min(seconds(r.created_at) for r in runs)
    last = max(seconds(r.updated_at) for r in runs)
    return Round(
        variant,
        count,
        last - first,
        [seconds(r.updated_at) - seconds(r.created_at) for r in runs],
        cpu,
        sum(r.status != E.RUN_STATUS_COMPLETED for r in runs),
    )


def report(results: list[Round], counts: list[int], variants: list[str]) -> None:
    print(
        "\nMANY RUNS: 3-superstep chains (a -> b -> c), N started at once on a fresh runner; "
        "checkpoint every superstep"
    )
    print(
        f"{'variant':>8} {'runs':>5} {'runs/s':>8} {'min':>7} {'max':>7} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'cpu ms/run':>10} {'min':>6} {'max':>6} {'failed':>6}"
    )
    print("-" * 92)
    medians: dict[tuple[str, int], float] = {}
    for variant in variants:
        for count in counts:
            rounds = [r for r in results if r.variant == variant and r.runs == count]
            if not rounds:
                continue
            rates = [r.rate for r in rounds]
            cpus = [r.cpu_ms_per_run for r in rounds]
            p50 = median(median(r.latencies) for r in rounds)
            p99 = median(quantile(r.latencies, 0.99) for r in rounds)
            medians[variant, count] = median(rates)
            print(
                f"{variant:>8} {count:>5} {median(rates):8.1f} {min(rates):7.1f} "
                f"{max(rates):7.1f} {p50 * 1000:8.1f} {p99 * 1000:8.1f} {median(cpus):10.2f} "
                f"{min(cpus):6.2f} {max(cpus):6.2f} {sum(r.failed for r in rounds):>6}"
            )
    print(f"(medians of {len(results) // max(1, len(counts) * len(variants))} repeats; ")
    print(" min/max: the spread of runs/s and of cpu ms/run over repeats)")
    if "base" in variants:
        for count in counts:
            if ("base", count) in medians and ("this", count) in medians:
                ratio = medians["this", count] / medians["base", count]
                print(f"runs/s at {count}: this / base = {ratio:.2f}x")
    print(f"load average at the end: {load_average()}")


async def main_async(args: argparse.Namespace) -> None:
    variants: list[tuple[str, Path | None]] = [("this", None)]
    if args.base_src is not None:
        variants.insert(0, ("base", args.base_src.resolve()))
    results = []
    with workdir(args.keep) as work:
        for repeat in range(1, args.repeats + 1):
            for count in args.concurrency:
                for name, src in variants:
                    result = await one_round(name, src, count, args.processes, work)
                    results.append(result)
                    print(
                        f"repeat {repeat}/{args.repeats} {name} {count} runs: "
                        f"{result.rate:.1f} runs/s, {result.cpu_ms_per_run:.2f} ms CPU/run, "
                        f"p50 {median(result.latencies) * 1000:.0f} ms"
                    )
    report(results, args.concurrency, [name for name, _ in variants])


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--concurrency", type=int, nargs="+", default=[10, 100, 500])
    options.add_argument("--repeats", type=int, default=3)
    options.add_argument("--processes", type=int, default=2, help="executor processes")
    options.add_argument("--base-src", type=Path, help="the checkout the base variant runs")
    options.add_argument("--keep", help="keep SQLite files and logs in this directory")
    run_benchmark(main_async(options.parse_args()))


if __name__ == "__main__":
    main()
