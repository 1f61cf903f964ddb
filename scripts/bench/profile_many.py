"""Where many short runs' CPU goes: `many_runs.py`'s chains, the runner in-process.

The executor services run as processes of their own, as in `many_runs.py`;
the runner (store, engine, gRPC front) runs inside this process, and its
runs are started by calling the engine (no StartRun over gRPC). For each
round of `--runs` chains started at once it prints this process's CPU per
run (its threads included), the time the cyclic garbage collector took per
run and how often each generation ran, the store's write transactions by
how many commits shared each, and how long a commit waited for the others of
its event-loop turn (from being asked for to its group's BEGIN). With
`--cprofile` it also prints the functions that cost most, under cProfile.

    python scripts/bench/profile_many.py [--runs 500] [--rounds 3] [--cprofile]

Nothing is changed in the runner: the counting wraps the objects' methods here.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import pstats
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchlib import check_completed, median, parser, run_benchmark, start_executors, workdir
from many_runs import WORKFLOW, chain

from stepline import payloads
from stepline.testing import stop
from stepline_runner.api.server import start_runner
from stepline_runner.collector import tune_collector
from stepline_runner.store.writer import Writer


class Counts:
    """What the wrapped methods saw in a round."""

    def __init__(self) -> None:
        self.groups: Counter[int] = Counter()  # transactions by commits in each
        self.waits: list[float] = []  # asked for -> its group's BEGIN, seconds
        self.collections: Counter[int] = Counter()  # by generation
        self.collecting = 0.0  # seconds
        self._asked: dict[int, float] = {}
        self._collection_began = 0.0

    def watch(self) -> None:
        transact, in_turn, commit_turn = Writer._transact, Writer._in_turn, Writer._commit_turn

        def counted_transact(writer: Writer, group: list[Any], size: int) -> Any:
            self.groups[len(group)] += 1
            return transact(writer, group, size)

        def asked(writer: Writer, work: Any, size: int) -> Any:
            self._asked[id(work)] = time.perf_counter()
            return in_turn(writer, work, size)

        def committed(writer: Writer) -> None:
            now = time.perf_counter()
            for job in writer._turn:
                self.waits.append(now - self._asked.pop(id(job.work), now))
            commit_turn(writer)

        Writer._transact = counted_transact  # type: ignore[method-assign,assignment]
        Writer._in_turn = asked  # type: ignore[method-assign,assignment]
        Writer._commit_turn = committed  # type: ignore[method-assign,assignment]
        gc.callbacks.append(self._collected)

    def _collected(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._collection_began = time.perf_counter()
        else:
            self.collecting += time.perf_counter() - self._collection_began
            self.collections[info["generation"]] += 1


async def profile(runs: int, rounds: int, use_cprofile: bool, work: Path) -> None:
    executors = [await start_executors("fanout_executors.py", work, f"exec{i}") for i in (0, 1)]
    server = await start_runner(work / "runner.db")
    profiler = cProfile.Profile() if use_cprofile else None
    try:
        runner = server.runner
        await runner.register_workflow(chain([e.address for e in executors]))
        tune_collector()  # as the runner's command does once it serves
        lap = payloads.encode({"hops_left": 3, "delay_ms": 0}, type_name="Lap")
        for round_ in range(1, rounds + 1):
            counts = Counts()
            counts.watch()
            if profiler:
                profiler.enable()
            cpu, began = time.process_time(), time.perf_counter()
            started = await asyncio.gather(*(runner.start_run(WORKFLOW, lap) for _ in range(runs)))
            for run in started:
                if (task := runner.runs.task(run.run_id)) is not None:
                    await task
            cpu, elapsed = time.process_time() - cpu, time.perf_counter() - began
            if profiler:
                profiler.disable()
            gc.callbacks.remove(counts._collected)
            for run in started[:: max(1, runs // 10)]:
                check_completed(await runner.get_run(run.run_id))
            report(round_, runs, cpu, elapsed, counts)
    finally:
        await server.stop()
        for service in executors:
            await stop(service.process)
    if profiler:
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(25)


def report(round_: int, runs: int, cpu: float, elapsed: float, counts: Counts) -> None:
    commits = sum(size * n for size, n in counts.groups.items())
    waits = sorted(counts.waits) or [0.0]
    print(
        f"round {round_}: {runs} runs in {elapsed:.2f}s ({runs / elapsed:.0f} runs/s), "
        f"{cpu * 1000 / runs:.2f} ms CPU per run (this process, StartRun over gRPC not included)"
    )
    print(
        f"  cyclic collector: {counts.collecting * 1000 / runs:.3f} ms per run; "
        f"collections by generation {dict(sorted(counts.collections.items()))}"
    )
    print(
        f"  write transactions: {sum(counts.groups.values())} for {commits} commits; "
        f"by commits shared {dict(sorted(counts.groups.items()))}"
    )
    print(
        f"  a commit's wait for its loop turn's group: median {median(waits) * 1e6:.0f} us, "
        f"max {waits[-1] * 1e6:.0f} us ({len(counts.waits)} inline commits)"
    )


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--runs", type=int, default=500, help="chains started at once")
    options.add_argument("--rounds", type=int, default=3)
    options.add_argument("--cprofile", action="store_true", help="also print cProfile's top 25")
    args = options.parse_args()
    with workdir(prefix="stepline-profile-") as tmp:
        run_benchmark(profile(args.runs, args.rounds, args.cprofile, tmp))


if __name__ == "__main__":
    main()
