"""Several runners on one PostgreSQL database: runs per second with 1, 2 and
3 runners, and how soon another runner goes on with a dead runner's runs.

- throughput: `--runs` short runs (the self-loop of `loop_executor.py`,
  `--steps` supersteps each, one executor service) started at once, spread
  round-robin over N runner processes (`--lease-seconds`), or all through
  the first (`--through-one`: the runners spread them); runs/s is the
  number of runs over the time from the first start to the last completion,
  and the database says how many runs each runner drove.
- failover: `--failover-runs` long runs started on runner A alone, then a
  runner B starts and A is SIGKILLed; for each run, the time from the kill to the first
  SUPERSTEP_STARTED after its RUN_RESUMED (the other runner's first
  superstep of it). The target is the lease + 1 s.

The server is a temporary cluster started here (tests/support/postgres.py)
or the one STEPLINE_TEST_POSTGRES_DSN names; each measurement gets a fresh
database and fresh runner processes. A report, not a test: it prints a table
and exits 0.

    python scripts/bench/leases.py [--runs 60] [--steps 5] [--repeats 2] [--through-one]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import psycopg
from benchlib import (
    ROOT,
    check_completed,
    load_average,
    loop_tick,
    loop_workflow,
    median,
    parser,
    run_benchmark,
    start_executors,
    wait_run,
    workdir,
)

from stepline import RunnerClient
from stepline.testing import Service, start_runner
from stepline.v1 import events_pb2 as E

sys.path.insert(0, str(ROOT))  # tests.support.postgres: the same server the tests use
from tests.support.postgres import DSN_VARIABLE, TemporaryPostgres


async def runners(store: str, count: int, lease: float, work: Path, tag: str) -> list[Service]:
    return [
        await start_runner(
            store, 0, "--lease-seconds", str(lease), log=work / f"{tag}-{i}.log", cwd=ROOT
        )
        for i in range(count)
    ]


async def throughput(
    server: TemporaryPostgres, endpoint: str, count: int, args: argparse.Namespace, work: Path
) -> tuple[float, list[int]]:
    """Runs/s, and how many runs each runner drove (fewest first)."""
    runs, steps, lease = args.runs, args.steps, args.lease_seconds
    store = server.new_database("bench_leases")
    services = await runners(store, count, lease, work, "tp")
    clients = [RunnerClient(s.address) for s in services]
    try:
        await clients[0].register_workflow(loop_workflow("bench", endpoint, steps))
        began = time.monotonic()
        # Round robin, or (--through-one) every start through the first runner.
        spread = 1 if args.through_one else count
        started = await asyncio.gather(
            *(clients[i % spread].start_run("bench", loop_tick(0, steps)) for i in range(runs))
        )
        ended = await asyncio.gather(*(wait_run(clients[0], r.run_id, 600) for r in started))
        elapsed = time.monotonic() - began
        for run in ended:
            check_completed(run)
        with psycopg.connect(store) as db:
            owners = db.execute("SELECT count(*) FROM runs GROUP BY owner").fetchall()
        return float(runs / elapsed), sorted(int(n) for (n,) in owners)
    finally:
        for client in clients:
            await client.close()
        for service in services:
            await service.kill()


async def failover(
    server: TemporaryPostgres, endpoint: str, args: argparse.Namespace, work: Path
) -> list[float]:
    lease, count = args.lease_seconds, args.failover_runs
    store = server.new_database("bench_failover")
    (a,) = await runners(store, 1, lease, work, "fo-a")
    on_a = RunnerClient(a.address)
    on_b: RunnerClient | None = None
    b: Service | None = None
    try:
        await on_a.register_workflow(loop_workflow("long", endpoint, 100_000))
        # Paced by the executor (loop_executor.py sleeps LOOP_DELAY_MS) so they outlive A.
        # A alone when they start: its fair share is every run.
        started = [await on_a.start_run("long", loop_tick(0, 100_000)) for _ in range(count)]
        (b,) = await runners(store, 1, lease, work, "fo-b")
        on_b = RunnerClient(b.address)
        for run in started:
            async for event in on_b.watch(run.run_id):  # under way on A
                if event.kind == E.EVENT_KIND_SUPERSTEP_COMPLETED and event.superstep >= 3:
                    break
        died = time.time()
        await a.kill()
        gaps = []
        for run in started:
            resumed = False
            async for event in on_b.watch(run.run_id):
                resumed = resumed or event.kind == E.EVENT_KIND_RUN_RESUMED
                if resumed and event.kind == E.EVENT_KIND_SUPERSTEP_STARTED:
                    gaps.append(event.time.ToDatetime().timestamp() - died)
                    break
            await on_b.cancel_run(run.run_id)
        return gaps
    finally:
        await on_a.close()
        if on_b is not None:
            await on_b.close()
        await a.kill()
        if b is not None:
            await b.kill()


async def main() -> None:
    p = parser(__doc__)
    p.add_argument("--runs", type=int, default=60)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--lease-seconds", type=float, default=2.0)
    p.add_argument("--failover-runs", type=int, default=6)
    p.add_argument(
        "--through-one", action="store_true", help="start every run through the first runner"
    )
    p.add_argument("--keep", help="keep the logs in this directory")
    args = p.parse_args()
    with TemporaryPostgres(os.environ.get(DSN_VARIABLE)) as server, workdir(args.keep) as work:
        fast = await start_executors("loop_executor.py", work, "loop")
        try:
            print(f"load average before: {load_average()}")
            rates: dict[int, list[float]] = {1: [], 2: [], 3: []}
            shares: dict[int, list[int]] = {}
            for repeat in range(args.repeats):
                for count in rates:  # in turn, so the machine's load hits each alike
                    rate, shares[count] = await throughput(server, fast.address, count, args, work)
                    rates[count].append(rate)
                    print(
                        f"repeat {repeat + 1}: {count} runner(s): {rate:6.1f} runs/s, "
                        f"runs per runner {shares[count]}"
                    )
        finally:
            await fast.kill()
        slow = await start_executors("loop_executor.py", work, "slow", {"LOOP_DELAY_MS": "50"})
        try:
            gaps = await failover(server, slow.address, args, work)
        finally:
            await slow.kill()
        print(f"load average after: {load_average()}")
    how = "all through one runner" if args.through_one else "round robin"
    print(f"\n{args.runs} runs of {args.steps} supersteps ({how}), lease {args.lease_seconds:g}s")
    print("runners | runs/s (median of repeats) | runs per runner (last repeat)")
    for count, values in rates.items():
        print(f"{count:7} | {median(values):6.1f} | {shares[count]}")
    worst = max(gaps)
    print(
        f"failover of {len(gaps)} runs: first superstep on the other runner after "
        f"{median(gaps):.2f}s (median), {worst:.2f}s (max); target lease + 1 s = "
        f"{args.lease_seconds + 1:g}s: {'MET' if worst <= args.lease_seconds + 1 else 'MISSED'}"
    )


if __name__ == "__main__":
    run_benchmark(main())
