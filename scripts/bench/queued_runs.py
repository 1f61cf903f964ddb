"""Queued runs: what a workflow's `max_concurrent_runs` costs.

`--runs` short loop runs (`--steps` supersteps each, one executor process) are
started at once, of a workflow without a limit and of one with
`--limit` concurrent runs; each variant in fresh processes and files, its
repeats interleaved with the other's. The report gives the StartRun calls'
median latency (a start counts the workflow's runs when it has a limit), the
time until every run ended, and, for the queued runs, the admission delay: from
the end of the run whose slot a queued run took (the latest end before it
started) to its `STATUS_CHANGED` to `RUNNING`.
"""

from __future__ import annotations

import time

import benchlib
from benchlib import E

from stepline import RunnerClient


async def burst(client: RunnerClient, workflow_id: str, runs: int, steps: int) -> dict[str, float]:
    started = time.perf_counter()
    starts: list[float] = []
    ids = []
    for n in range(runs):
        before = time.perf_counter()
        run = await client.start_run(workflow_id, benchlib.loop_tick(1, steps), run_id=f"r{n}")
        starts.append(time.perf_counter() - before)
        ids.append(run.run_id)
    for run_id in ids:
        benchlib.check_completed(await benchlib.wait_run(client, run_id, timeout=600))
    drained = time.perf_counter() - started
    ends, admitted = [], []
    for run_id in ids:
        events = [e async for e in client.watch(run_id, kinds=[E.EVENT_KIND_STATUS_CHANGED])]
        statuses = [e.status for e in events]
        ends.append(benchlib.seconds(events[-1].time))
        if E.RUN_STATUS_QUEUED in statuses:
            after = statuses.index(E.RUN_STATUS_QUEUED) + 1
            admitted.append(benchlib.seconds(events[after].time))
    delays = [t - max(e for e in ends if e <= t) for t in admitted if any(e <= t for e in ends)]
    return {
        "start": benchlib.median(starts),
        "drained": drained,
        "queued": float(len(admitted)),
        "delay": benchlib.median(delays) if delays else 0.0,
        "delay90": benchlib.quantile(delays, 0.9) if delays else 0.0,
    }


async def variant(limit: int, runs: int, steps: int) -> dict[str, float]:
    with benchlib.workdir() as work:
        executor = await benchlib.start_executors("loop_executor.py", work)
        runner = await benchlib.start_bench_runner(work)
        try:
            async with benchlib.tail_on_failure(runner), RunnerClient(runner.address) as client:
                definition = benchlib.loop_workflow("w", executor.address, steps)
                definition.max_concurrent_runs = limit
                await client.register_workflow(definition)
                return await burst(client, "w", runs, steps)
        finally:
            await runner.stop()
            await executor.stop()


async def main() -> None:
    parser = benchlib.parser(__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--limit", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"load average {benchlib.load_average()}; {args.runs} runs of {args.steps} supersteps")
    results: dict[int, list[dict[str, float]]] = {0: [], args.limit: []}
    for _ in range(args.repeats):
        for limit in results:
            result = await variant(limit, args.runs, args.steps)
            results[limit].append(result)
            print(
                f"  limit {limit or 'none':>4}: start {benchlib.ms(result['start'])}  all ended in "
                f"{result['drained']:6.2f} s  queued {result['queued']:4.0f}  admission delay "
                f"median {benchlib.ms(result['delay'])} p90 {benchlib.ms(result['delay90'])}"
            )
    for limit, rows in results.items():
        print(
            f"median, limit {limit or 'none':>4}: start "
            f"{benchlib.ms(benchlib.median(r['start'] for r in rows))}  all ended in "
            f"{benchlib.median(r['drained'] for r in rows):6.2f} s  admission delay "
            f"{benchlib.ms(benchlib.median(r['delay'] for r in rows))}"
        )


if __name__ == "__main__":
    benchlib.run_benchmark(main())
