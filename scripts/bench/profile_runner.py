"""Where a superstep's time goes: the loop workflow with the runner in-process.

The executor service runs as its own process, as in `superstep.py`; the runner
(store, engine, gRPC front) runs inside this process so that its calls can be
timed: every Execute and SaveCheckpoint call, every store commit, and every
SQLite statement sent through aiosqlite's thread (the commit's, and reads). The rest of the
superstep is the engine's own Python. With `--cprofile` it also prints the
functions that cost most, under cProfile.

    python scripts/bench/profile_runner.py [--steps 1000] [--cprofile]

Nothing is changed in the runner: the timing wraps the objects' methods here.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosqlite
from benchlib import (
    check_completed,
    loop_tick,
    loop_workflow,
    median,
    parser,
    run_benchmark,
    start_executors,
    workdir,
)

from stepline_runner.api.server import start_runner

Timings = defaultdict[str, list[float]]


def timed(name: str, fn: Callable[..., Awaitable[Any]], into: Timings) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            into[name].append(time.perf_counter() - t0)

    return wrapper


# -- what-if: the same commit in one trip to the SQLite thread


class _TimedCursorContext:
    """Times `async with db.execute(...)` (aiosqlite's context-manager form)."""

    def __init__(self, name: str, inner: Any, into: Timings) -> None:
        self._name, self._inner, self._into = name, inner, into

    def __await__(self) -> Any:
        return timed(self._name, self._inner.__aenter__, self._into)().__await__()

    async def __aenter__(self) -> Any:
        t0 = time.perf_counter()
        cursor = await self._inner.__aenter__()
        self._into[self._name].append(time.perf_counter() - t0)
        return cursor

    async def __aexit__(self, *exc: object) -> None:
        t0 = time.perf_counter()
        await self._inner.__aexit__(*exc)
        self._into["sql: close cursor"].append(time.perf_counter() - t0)


def instrument_sql(into: Timings) -> None:
    """Time every statement any aiosqlite connection of this process sends
    (the store's own connections are its business: the class is patched)."""
    execute, executemany = aiosqlite.Connection.execute, aiosqlite.Connection.executemany

    def label(sql: str) -> str:
        return "sql: " + " ".join(sql.split()[:3])[:40]

    def timed_execute(db: aiosqlite.Connection, sql: str, *args: Any) -> Any:
        return _TimedCursorContext(label(sql), execute(db, sql, *args), into)

    def timed_executemany(db: aiosqlite.Connection, sql: str, *args: Any) -> Any:
        return _TimedCursorContext(label(sql) + " (many)", executemany(db, sql, *args), into)

    aiosqlite.Connection.execute = timed_execute  # type: ignore[method-assign]
    aiosqlite.Connection.executemany = timed_executemany  # type: ignore[method-assign]


async def profile(steps: int, use_cprofile: bool, workdir: Path) -> None:
    executor = await start_executors("loop_executor.py", workdir)
    server = await start_runner(workdir / "runner.db")
    timings: Timings = defaultdict(list)
    try:
        runner = server.runner
        executors = server.executors
        executors.execute = timed("rpc: Execute", executors.execute, timings)  # type: ignore[method-assign]
        executors.save = timed("rpc: SaveCheckpoint", executors.save, timings)  # type: ignore[method-assign]
        store = server.store
        store.commit = timed("store.commit (whole)", store.commit, timings)  # type: ignore[method-assign]
        instrument_sql(timings)
        await runner.register_workflow(loop_workflow("bench-loop", executor.address, steps))
        profiler = cProfile.Profile() if use_cprofile else None
        timings.clear()
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        begun = await runner.start_run("bench-loop", loop_tick(1, steps))
        task = runner.runs.task(begun.run_id)
        if task is not None:
            await task
        elapsed = time.perf_counter() - started
        if profiler:
            profiler.disable()
        check_completed(await runner.get_run(begun.run_id))
    finally:
        await server.stop()
        await executor.stop()

    per_step = elapsed / steps
    print(f"{steps} supersteps in {elapsed:.2f}s: {per_step * 1000:.3f} ms per superstep (mean)")
    print()
    print(f"{'call':<44} {'count':>6} {'median ms':>10} {'mean ms':>8} {'ms/step':>8} {'share':>6}")
    accounted = 0.0
    for name, values in sorted(timings.items(), key=lambda kv: -sum(kv[1])):
        total = sum(values)
        if not name.startswith("sql:"):
            accounted += total
        print(
            f"{name:<44} {len(values):>6} {median(values) * 1000:>10.3f}"
            f" {total / len(values) * 1000:>8.3f} {total / steps * 1000:>8.3f}"
            f" {total / elapsed:>6.1%}"
        )
    rest = elapsed - accounted
    print(
        f"{'engine Python, event loop, scheduling (rest)':<44} {'':>6} {'':>10} {'':>8}"
        f" {rest / steps * 1000:>8.3f} {rest / elapsed:>6.1%}"
    )
    print("(sql: every statement sent to aiosqlite, the commit's and any read; the rest is")
    print(" elapsed minus rpc and commit)")
    print()
    print("median ms by tenth of the run (growth shows as a rising row):")
    for name in ("rpc: Execute", "rpc: SaveCheckpoint", "store.commit (whole)"):
        values = timings[name]
        tenth = max(len(values) // 10, 1)
        cells = " ".join(
            f"{median(values[i : i + tenth]) * 1000:6.3f}" for i in range(0, tenth * 10, tenth)
        )
        print(f"  {name:<22} {cells}")
    if profiler:
        print()
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(25)


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--steps", type=int, default=1000)
    options.add_argument("--cprofile", action="store_true", help="also print cProfile's top 25")
    args = options.parse_args()
    with workdir(prefix="stepline-profile-") as tmp:
        run_benchmark(profile(args.steps, args.cprofile, tmp))


if __name__ == "__main__":
    main()
