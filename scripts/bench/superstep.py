"""Superstep benchmark: a self-loop workflow against its floor.

One executor (`scripts/bench/loop_executor.py`, its own process) sends itself a
message every superstep, its state changing each time, for `--steps`
supersteps; the runner (`python -m stepline_runner`, its own process, a fresh
SQLite file) checkpoints every superstep. The time of one superstep is the
interval between consecutive SUPERSTEP_COMPLETED events (their `time` is set
in the runner when the event is made, just before the superstep's commit).

The floor is one plain gRPC round trip plus one SQLite commit, measured by
`scripts/bench/floor_probe.py`, a process of its own calling the same executor
service and committing to a SQLite file in the same directory with the
runner's settings; it runs right before and right after each workflow run.

Everything is repeated `--repeats` times, each with fresh processes and files.
It prints a table and verdicts and exits 0: a report, not a test.

`--variants` compares builds in the same run, repeats interleaved: `off`
(this checkout, tracing off), `traced` (this checkout, every span of the
runner and the executor service exported to a JSON-lines file), `metrics`
(the runner serving Prometheus metrics), `base`
(the checkout at `--base-src`: an earlier commit, to see what a change costs),
and `base-metrics` and `base-traced` (that checkout with metrics, or traced).

    python scripts/bench/superstep.py [--steps 1000] [--repeats 3]
        [--variants base,off,traced --base-src DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import (
    HERE,
    ROOT,
    check_completed,
    intervals,
    loop_tick,
    loop_workflow,
    median,
    ms,
    on_cpu,
    parser,
    run_benchmark,
    spread,
    start_bench_runner,
    start_executors,
    superstep_times,
    tail_on_failure,
    two_cpus,
    wait_run,
    workdir,
)

from stepline import RunnerClient
from stepline.testing import stop

WITHIN = 1.0  # issue #15's bound, times the floor
TRUE_WITHIN = 2.0  # and times the true floor (a Session round trip + a raw sqlite3 commit)
GROWTH_LIMIT = 1.1  # "must not grow": step N over step 10 above this counts as growth
STALL = 0.005  # a superstep this long is counted apart (six times the usual)


# -- measurements


@dataclass
class Floor:
    """Floor samples in seconds (see floor_probe.py)."""

    rtt: list[float] = field(default_factory=list)
    commit: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    # The true floor (empty when the service has no Session stream).
    stream_rtt: list[float] = field(default_factory=list)
    raw_commit: list[float] = field(default_factory=list)
    true_total: list[float] = field(default_factory=list)

    def extend(self, other: Floor) -> None:
        for name, values in other.__dict__.items():
            getattr(self, name).extend(values)


async def measure_floor(endpoint: str, db: Path, iterations: int) -> Floor:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "floor_probe.py"),
        "--endpoint",
        endpoint,
        "--db",
        str(db),
        "--iterations",
        str(iterations),
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        out, _ = await process.communicate()
    finally:
        await stop(process)
    if process.returncode != 0:
        raise RuntimeError(f"floor_probe.py exited with {process.returncode}")
    return Floor(**json.loads(out))


async def run_loop(runner: str, executor: str, steps: int, timeout: float) -> dict[int, float]:
    """Run the loop workflow; return superstep -> time (epoch seconds) of its
    SUPERSTEP_COMPLETED event.

    The run is not watched live (a watcher costs the runner work on every
    commit); we poll its status slowly and read the events once it ended.
    """
    async with RunnerClient(runner) as client:
        await client.register_workflow(loop_workflow("bench-loop", executor, steps))
        started = await client.start_run("bench-loop", loop_tick(1, steps))
        check_completed(await wait_run(client, started.run_id, timeout))
        return await superstep_times(client, started.run_id, steps)


@dataclass
class Repeat:
    intervals: dict[int, float]  # superstep k -> time(k) - time(k - 1), for k >= 2
    floor: Floor
    wall: float  # first to last SUPERSTEP_COMPLETED

    def window(self, lo: int, hi: int) -> float:
        return median(v for k, v in self.intervals.items() if lo <= k <= hi)

    def tenths(self) -> list[float]:
        """The median superstep of each tenth of the run, in order."""
        steps = sorted(self.intervals)
        size = len(steps) / 10
        return [
            median(self.intervals[k] for k in steps[round(i * size) : round((i + 1) * size)])
            for i in range(10)
        ]

    @property
    def median(self) -> float:
        return median(self.intervals.values())

    @property
    def mean(self) -> float:
        return sum(self.intervals.values()) / len(self.intervals)

    @property
    def stalls(self) -> int:
        """Supersteps that took over STALL (a commit waiting for something)."""
        return sum(v > STALL for v in self.intervals.values())

    @property
    def floor_median(self) -> float:
        return median(self.floor.total)

    @property
    def true_floor_median(self) -> float | None:
        return median(self.floor.true_total) if self.floor.true_total else None


@dataclass(frozen=True)
class Variant:
    """What the runner and the executor service run: this checkout or the one
    at `src`, tracing off or every span exported to a JSON-lines file."""

    name: str
    src: Path | None = None
    traced: bool = False
    options: tuple[str, ...] = ()  # the runner's
    pinned: bool = False  # the runner on one CPU, the executor service on another

    def env(self, workdir: Path, process: str) -> dict[str, str]:
        env = {}
        if self.src is not None:
            env["PYTHONPATH"] = f"{self.src / 'sdk'}{os.pathsep}{self.src / 'server'}"
        if self.traced:
            env["OTEL_TRACES_EXPORTER"] = "jsonl"
            env["STEPLINE_TRACES_FILE"] = str(workdir / f"{process}-spans.jsonl")
        return env


VARIANTS = (
    "off",
    "pinned",
    "traced",
    "metrics",
    "base",
    "base-pinned",
    "base-metrics",
    "base-traced",
)


async def one_repeat(
    steps: int, floor_iterations: int, workdir: Path, variant: Variant = Variant("off")
) -> Repeat:
    executor_env, runner_env = variant.env(workdir, "executor"), variant.env(workdir, "runner")
    # Pinned: the runner (and the floor probe, which runs while the runner
    # idles) on one CPU, the executor service on the other.
    runner_cpu, executor_cpu = two_cpus() if variant.pinned else (None, None)
    with on_cpu(executor_cpu):
        executor_service = await start_executors("loop_executor.py", workdir, env=executor_env)
    async with executor_service as executor:
        with on_cpu(runner_cpu):
            runner_service = await start_bench_runner(
                workdir, env=runner_env, options=variant.options
            )
        async with runner_service as runner:
            probe_db = workdir / "floor.db"
            with on_cpu(runner_cpu):
                floor = await measure_floor(executor.address, probe_db, floor_iterations)
            async with tail_on_failure(runner):
                times = await run_loop(runner.address, executor.address, steps, timeout=600)
            with on_cpu(runner_cpu):
                floor.extend(await measure_floor(executor.address, probe_db, floor_iterations))
    return Repeat(intervals(times), floor, times[steps] - times[1])


# -- report


def report(repeats: list[Repeat], steps: int) -> None:
    early = (5, 15)
    late = (max(steps - 10, 2), steps)
    wide_early = (2, min(101, steps))
    wide_late = (max(steps - 99, 2), steps)
    print()
    print(f"superstep benchmark: self-loop, {steps} supersteps, checkpoint every superstep")
    print("times in ms; superstep = interval between consecutive SUPERSTEP_COMPLETED events")
    print("floor = one gRPC round trip (Describe) + one SQLite commit, separate process,")
    print("        same executor service, same settings, before and after each run")
    print("true floor = one round trip on an open Session stream + one raw sqlite3 commit,")
    print("        the same iterations (when the service offers the stream)")
    print()
    header = (
        f"{'repeat':>6} {'step med':>8} {f'~{10}':>8} {f'~{steps}':>8} {'N/10':>6}"
        f" {'rtt':>8} {'commit':>8} {'floor':>8} {'x floor':>7} {'run s':>6}"
    )
    print(header)
    print("-" * len(header))
    rows: list[tuple[float, float, float, float, float, float, float]] = []
    for i, r in enumerate(repeats, 1):
        s10, sn = r.window(*early), r.window(*late)
        rtt, commit = median(r.floor.rtt), median(r.floor.commit)
        ratio = r.median / r.floor_median
        rows.append((r.median, s10, sn, rtt, commit, r.floor_median, ratio))
        print(
            f"{i:>6} {ms(r.median):>8} {ms(s10):>8} {ms(sn):>8} {sn / s10:>6.2f}"
            f" {ms(rtt):>8} {ms(commit):>8} {ms(r.floor_median):>8} {ratio:>7.2f}"
            f" {r.wall:>6.2f}"
        )
    med = [median(col) for col in zip(*rows, strict=True)]
    growth = median(r.window(*late) / r.window(*early) for r in repeats)
    wide = median(r.window(*wide_late) / r.window(*wide_early) for r in repeats)
    print("-" * len(header))
    print(
        f"{'median':>6} {ms(med[0]):>8} {ms(med[1]):>8} {ms(med[2]):>8} {growth:>6.2f}"
        f" {ms(med[3]):>8} {ms(med[4]):>8} {ms(med[5]):>8} {med[6]:>7.2f}"
    )
    print()
    print(f"spread over repeats: superstep {spread([r.median for r in repeats])}")
    print(
        f"                     mean      {spread([r.mean for r in repeats])}; supersteps over "
        f"{STALL * 1000:g} ms: {', '.join(str(r.stalls) for r in repeats)} "
        f"(longest {ms(max(max(r.intervals.values()) for r in repeats)).strip()} ms)"
    )
    print(f"                     floor     {spread([r.floor_median for r in repeats])}")
    print(f"~10 = median of supersteps {early[0]}-{early[1]}; ~{steps} = {late[0]}-{late[1]}")
    print(
        f"wider windows: supersteps {wide_late[0]}-{wide_late[1]} over "
        f"{wide_early[0]}-{wide_early[1]}: {wide:.2f}"
    )
    tenths = [median(r.tenths()[i] for r in repeats) for i in range(10)]
    print(f"median by tenth of the run: {' '.join(ms(t).strip() for t in tenths)}")
    print()
    ratio = med[6]
    print(f"superstep / floor (median of repeats): {ratio:.2f}x")
    print(f"WITHIN {WITHIN:g}x FLOOR: {'yes' if ratio <= WITHIN else 'no'}")
    true = [(r.median, t) for r in repeats if (t := r.true_floor_median) is not None]
    if true:
        stream = median(median(r.floor.stream_rtt) for r in repeats if r.floor.stream_rtt)
        raw = median(median(r.floor.raw_commit) for r in repeats if r.floor.raw_commit)
        true_ratio = median(step / t for step, t in true)
        print(
            f"true floor: {ms(median(t for _, t in true)).strip()} ms (stream rtt "
            f"{ms(stream).strip()}, raw commit {ms(raw).strip()}); spread "
            f"{spread([t for _, t in true])}"
        )
        print(f"superstep / true floor (median of repeats): {true_ratio:.2f}x")
        print(f"WITHIN {TRUE_WITHIN:g}x TRUE FLOOR: {'yes' if true_ratio <= TRUE_WITHIN else 'no'}")
    else:
        print("true floor: not measured (the service offers no Session stream)")
    print(
        f"STEP {steps} vs STEP 10: {growth:.2f}x "
        f"({'no growth' if growth <= GROWTH_LIMIT else 'GROWS'}; limit {GROWTH_LIMIT:g}x)"
    )


async def main_async(args: argparse.Namespace, variants: list[Variant]) -> None:
    repeats: dict[str, list[Repeat]] = {v.name: [] for v in variants}
    started = time.monotonic()
    for i in range(1, args.repeats + 1):
        for variant in variants:  # interleaved, so the machine's load hits each alike
            with workdir() as tmp:
                r = await one_repeat(args.steps, args.floor_iterations, tmp, variant)
                spans = count_lines(tmp, "*-spans.jsonl")
            print(
                f"repeat {i}/{args.repeats} {variant.name}: superstep {r.median * 1000:.3f} ms, "
                f"floor {r.floor_median * 1000:.3f} ms"
                + (f", {spans} spans" if variant.traced else "")
                + f" ({time.monotonic() - started:.0f}s)",
                flush=True,
            )
            repeats[variant.name].append(r)
    for variant in variants:
        if len(variants) > 1:
            print(f"\n== {variant.name}")
        report(repeats[variant.name], args.steps)
    if len(variants) > 1:
        compare(repeats)


def count_lines(directory: Path, pattern: str) -> int:
    return sum(len(p.read_bytes().splitlines()) for p in directory.glob(pattern))


def compare(repeats: dict[str, list[Repeat]]) -> None:
    """Each variant's median superstep (median of repeats), and its ratio to the first."""
    medians = {name: median(r.median for r in rs) for name, rs in repeats.items()}
    first = next(iter(medians))
    print()
    print(f"variant   superstep ms   x {first}")
    for name, value in medians.items():
        print(f"{name:<9} {ms(value):>12}   {value / medians[first]:.3f}")


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--steps", type=int, default=1000, help="supersteps (default: 1000)")
    options.add_argument("--repeats", type=int, default=3, help="fresh repeats (default: 3)")
    options.add_argument(
        "--floor-iterations",
        type=int,
        default=500,
        help="floor samples before and after each run (default: 500)",
    )
    options.add_argument(
        "--variants",
        default="off",
        help=f"comma-separated, from {', '.join(VARIANTS)} (default: off)",
    )
    options.add_argument("--base-src", type=Path, help="the checkout the base variant runs")
    args = options.parse_args()
    if args.steps < 30:
        options.error("--steps must be at least 30")
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    if not names or any(n not in VARIANTS for n in names):
        options.error(f"--variants takes {', '.join(VARIANTS)}")
    if any(n.startswith("base") for n in names) and args.base_src is None:
        options.error("the base variants need --base-src")
    if any(n.endswith("pinned") for n in names):
        two_cpus()  # says so now, before any repeat, when there are fewer than two
    known = {
        "off": Variant("off"),
        "pinned": Variant("pinned", pinned=True),
        "traced": Variant("traced", traced=True),
        "metrics": Variant("metrics", options=("--metrics-port", "0")),
        "base": Variant("base", args.base_src),
        "base-pinned": Variant("base-pinned", args.base_src, pinned=True),
        "base-metrics": Variant("base-metrics", args.base_src, options=("--metrics-port", "0")),
        "base-traced": Variant("base-traced", args.base_src, traced=True),
    }
    for name in [k for k in os.environ if k.startswith("OTEL_")]:
        del os.environ[name]  # tracing only where a variant asks for it
    run_benchmark(main_async(args, [known[n] for n in names]))


if __name__ == "__main__":
    main()
