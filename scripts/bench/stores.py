"""Superstep time on PostgreSQL against SQLite: the same run on each store.

`superstep.py`'s self-loop (one executor, `loop_executor.py`, its own
process, its state changing every superstep; the runner its own process,
checkpointing every superstep) runs `--steps` supersteps on each store:

- sqlite: a fresh file (WAL, synchronous=NORMAL: the runner's default);
- postgresql: a fresh database on a local PostgreSQL server with its default
  durability (every commit waits for the WAL to reach the disk);
- postgresql-async: the same server, the database set to
  synchronous_commit=off (a commit survives the runner's crash and the
  server's process crash, not the machine's: SQLite NORMAL's terms).

The server is a temporary cluster started here (tests/support/postgres.py:
Debian's initdb/pg_ctl, as scripts/test installs them), or the one
STEPLINE_TEST_POSTGRES_DSN names. Stores take turns within each repeat, so
the machine's load hits each alike; each repeat uses fresh processes and
databases. A superstep's time is the interval between consecutive
SUPERSTEP_COMPLETED events. It prints a table and exits 0: a report, not a test.

    python scripts/bench/stores.py [--steps 500] [--repeats 3]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from benchlib import (
    ROOT,
    intervals,
    median,
    ms,
    parser,
    quantile,
    run_benchmark,
    spread,
    start_executors,
    tail_on_failure,
    workdir,
)
from superstep import run_loop

from stepline.testing import start_runner

sys.path.insert(0, str(ROOT))  # tests.support.postgres: the same server the tests use
from tests.support.postgres import DSN_VARIABLE, TemporaryPostgres

STORES = ("sqlite", "postgresql", "postgresql-async")


def location(store: str, server: TemporaryPostgres, work: Path, repeat: int) -> str:
    if store == "sqlite":
        return str(work / f"bench-{repeat}.db")
    url = server.new_database(prefix=f"bench_{store.replace('-', '_')}")
    if store == "postgresql-async":
        name = url.split("/")[-1].split("?")[0]
        import psycopg

        with psycopg.connect(server.dsn, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    return url


async def one_run(store: str, where: str, steps: int, work: Path) -> list[float]:
    """The superstep intervals (seconds) of one run on the store at `where`."""
    log = work / f"runner-{store}.log"
    async with (
        await start_executors("loop_executor.py", work, name=f"executor-{store}") as executor,
        await start_runner(where, 0, log=log, cwd=ROOT) as runner,
        tail_on_failure(runner),
    ):
        times = await run_loop(runner.address, executor.address, steps, timeout=900)
    return list(intervals(times).values())


async def main() -> None:
    args = parser(__doc__)
    args.add_argument("--steps", type=int, default=500)
    args.add_argument("--repeats", type=int, default=3)
    options = args.parse_args()
    results: dict[str, list[list[float]]] = {s: [] for s in STORES}
    # The server's defaults, durability included: no test settings here.
    with TemporaryPostgres(os.environ.get(DSN_VARIABLE), settings=()) as server, workdir() as work:
        for repeat in range(options.repeats):
            for store in STORES:
                where = location(store, server, work, repeat)
                results[store].append(await one_run(store, where, options.steps, work))
                print(f"repeat {repeat + 1} {store}: {ms(median(results[store][-1]))} ms")
    report(results, options.steps)


def report(results: dict[str, list[list[float]]], steps: int) -> None:
    print()
    print(f"superstep time by store: self-loop, {steps} supersteps, checkpoint every superstep")
    print("ms; median and p95 over every superstep of every repeat; spread of repeat medians")
    header = f"{'store':<17} {'median':>8} {'p95':>8} {'x sqlite':>8}  repeat medians"
    print(header)
    print("-" * len(header))
    base = median(v for run in results["sqlite"] for v in run)
    for store, runs in results.items():
        every = [v for run in runs for v in run]
        print(
            f"{store:<17} {ms(median(every), 8)} {ms(quantile(every, 0.95), 8)}"
            f" {median(every) / base:>7.2f}x  {spread([median(r) for r in runs])}"
        )


if __name__ == "__main__":
    run_benchmark(main())
