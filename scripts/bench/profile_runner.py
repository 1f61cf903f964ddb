"""Where a superstep's time goes: the loop workflow with the runner in-process.

The executor service runs as its own process, as in `superstep.py`; the runner
(store, engine, gRPC front) runs inside this process so that its calls can be
timed: every Execute and SaveCheckpoint call, every store commit, and each
write transaction's trip to the store's writer thread with the time its
statements take there, and each superstep whole. The rest of the superstep
is the engine's own Python.
With `--cprofile` it also prints the functions that cost most, under cProfile.

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
from stepline_runner.engine.driver import RunDriver
from stepline_runner.store.writer import Writer

Timings = defaultdict[str, list[float]]


def timed(name: str, fn: Callable[..., Awaitable[Any]], into: Timings) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            into[name].append(time.perf_counter() - t0)

    return wrapper


# -- the store's writer thread


def instrument_writer(into: Timings) -> None:
    """Time every write transaction: its whole trip to the writer's thread and
    back, and the part its statements take on that thread (the class is
    patched, so the store's own writer is timed)."""
    transaction = Writer.transaction

    async def timed_transaction(writer: Writer, work: Callable[..., Any], size: int = 0) -> Any:
        def timed_work(db: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return work(db)
            finally:
                into["sql: statements on the writer thread"].append(time.perf_counter() - t0)

        return await timed("sql: writer.transaction (trip)", transaction, into)(
            writer, timed_work, size
        )

    Writer.transaction = timed_transaction  # type: ignore[method-assign,assignment]


def instrument_supersteps(into: Timings) -> None:
    """Time each superstep whole, as the driver runs it (its calls and commit)."""
    superstep = RunDriver._superstep

    async def timed_superstep(driver: RunDriver) -> bool:
        return await timed("superstep (whole)", superstep, into)(driver)  # type: ignore[no-any-return]

    RunDriver._superstep = timed_superstep  # type: ignore[method-assign,assignment]


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
        instrument_writer(timings)
        instrument_supersteps(timings)
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
        if not name.startswith(("sql:", "superstep")):
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
    print("(sql: each write transaction's trip to the store's writer thread, and the time its")
    print(" statements took there; the rest is elapsed minus rpc and commit)")
    print()
    print("median ms by tenth of the run (growth shows as a rising row):")
    for name in (
        "superstep (whole)",
        "rpc: Execute",
        "rpc: SaveCheckpoint",
        "store.commit (whole)",
    ):
        values = timings[name]
        if not values:  # no SaveCheckpoint calls: the states came with Execute
            continue
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
