"""DeleteRun: how long deleting a finished run takes by its size, and how long
it holds up another run's commits (one writer: the delete is one transaction).

A loop run of `--steps` supersteps (one executor, a new state each step, a
checkpoint each step) is deleted while a second loop run is under way; the
report gives the delete's duration, what it removed, and the second run's
superstep intervals: median, and the longest one, which spans the delete.
"""

from __future__ import annotations

import time

import benchlib
from benchlib import E

from stepline import RunnerClient


async def delete_while_running(client: RunnerClient, endpoint: str, steps: int) -> None:
    await client.register_workflow(benchlib.loop_workflow("big", endpoint, steps))
    await client.register_workflow(benchlib.loop_workflow("live", endpoint, 100_000))
    big = await client.start_run("big", benchlib.loop_tick(1, steps))
    benchlib.check_completed(await benchlib.wait_run(client, big.run_id, timeout=600))
    live = await client.start_run("live", benchlib.loop_tick(1, 100_000))
    async for event in client.watch(live.run_id, kinds=[E.EVENT_KIND_SUPERSTEP_COMPLETED]):
        if event.superstep >= 50:
            break
    started = time.perf_counter()
    deleted = await client.delete_run(big.run_id)
    took = time.perf_counter() - started
    async for event in client.watch(live.run_id, kinds=[E.EVENT_KIND_SUPERSTEP_COMPLETED]):
        if event.superstep >= 150:
            break
    await client.cancel_run(live.run_id)
    times = {
        e.superstep: benchlib.seconds(e.time)
        async for e in client.watch(live.run_id, kinds=[E.EVENT_KIND_SUPERSTEP_COMPLETED])
    }
    gaps = list(benchlib.intervals(times).values())
    await client.delete_run(live.run_id)
    print(
        f"{steps:>6} supersteps: delete {took * 1000:8.1f} ms  removed "
        f"{deleted.checkpoints_removed} checkpoints, {deleted.events_removed} events, "
        f"{deleted.blobs_removed} blobs;  other run's superstep median "
        f"{benchlib.median(gaps) * 1000:.2f} ms, longest {max(gaps) * 1000:.1f} ms"
    )


async def main() -> None:
    parser = benchlib.parser(__doc__)
    parser.add_argument("--steps", type=int, nargs="+", default=[500, 2000, 5000])
    args = parser.parse_args()
    with benchlib.workdir() as work:
        executor = await benchlib.start_executors("loop_executor.py", work)
        runner = await benchlib.start_bench_runner(work)
        try:
            async with RunnerClient(runner.address) as client:
                print(f"load average {benchlib.load_average()}")
                for steps in args.steps:
                    await delete_while_running(client, executor.address, steps)
        finally:
            await runner.stop()
            await executor.stop()


if __name__ == "__main__":
    benchlib.run_benchmark(main())
