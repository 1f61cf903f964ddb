"""Fan-out and runner-memory benchmark.

Part 1, fan-out: a `hub` executor fans a message out to 16 `spoke` executors
spread over 4 executor processes (4 each; the hub lives in the first), the
spokes fan in back to the hub as one list, and the hub fans out again, for
`--supersteps` supersteps (`scripts/bench/fanout_executors.py`). The runner
(`python -m stepline_runner`) is its own process on a fresh SQLite file. It
reports

- messages delivered per second: every message a spoke receives plus each
  fan-in list the hub receives (and the start input), counted from the
  checkpoints' undelivered messages, over the time from RUN_STARTED to the last
  SUPERSTEP_COMPLETED;
- superstep times: consecutive differences of the SUPERSTEP_COMPLETED events'
  `time`, overall and for spoke and hub supersteps apart;
- a round (a spoke superstep and the hub one after it) against a raw round,
  the same calls made directly over concurrent gRPC (`fanout_raw.py`),
  measured right after each run on the same executor processes.

Part 2, memory (`fanout_memory.py`): a fresh runner; its RSS (VmRSS of /proc/<pid>/status) at idle
after start, the peak while `--runs` runs of a small ring workflow (4 executors,
one per process, `--ring-hops` supersteps) are in flight at once, and after
they all finished; then again for each further batch, to show whether RSS grows
with finished runs.

It prints a summary and exits 0: a report, not a test.

    python scripts/bench/fanout.py [--supersteps 100] [--repeats 3] [--runs 200] [--batches 3]
"""

from __future__ import annotations

import argparse
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import (
    E,
    check_completed,
    check_supersteps,
    intervals,
    median,
    parser,
    quantile,
    run_benchmark,
    seconds,
    spread,
    start_bench_runner,
    start_executors,
    tail_on_failure,
    wait_run,
    workdir,
)
from fanout_memory import add_memory_options, part_memory, report_memory
from fanout_raw import raw_rounds

from stepline import RunnerClient, WorkflowBuilder, payloads
from stepline.v1 import workflow_pb2

PROCESSES = 4
SPOKES_PER_PROCESS = 4
FANOUT_WORKFLOW = "bench-fanout"


# -- part 1: fan-out


@dataclass
class FanoutResult:
    supersteps: int
    delivered: int  # messages delivered to executors over the run
    spoke_deliveries: int
    batches: int
    pongs: int  # Pongs carried inside the fan-in lists
    executes: int  # Execute calls (EXECUTOR_INVOKED events)
    duration: float  # RUN_STARTED to the last SUPERSTEP_COMPLETED, seconds
    intervals: dict[int, float]  # superstep k -> time(k) - time(k - 1), k >= 2
    spoke_steps: set[int] = field(default_factory=set)
    raw: list[float] = field(default_factory=list)  # raw round times (fanout_raw.py)

    @property
    def rate(self) -> float:
        return self.delivered / self.duration

    def median(self, which: str = "all") -> float:
        values = [
            v
            for k, v in self.intervals.items()
            if which == "all" or (which == "spoke") == (k in self.spoke_steps)
        ]
        return median(values)

    def round_median(self) -> float:
        """Median of a spoke superstep plus the hub superstep after it."""
        return median(
            self.intervals[k] + self.intervals[k + 1]
            for k in sorted(self.spoke_steps)
            if k + 1 in self.intervals
        )

    def quantile(self, q: float) -> float:
        return quantile(self.intervals.values(), q)


def fanout_definition(endpoints: list[str], supersteps: int) -> workflow_pb2.WorkflowDefinition:
    spokes = [f"spoke-{i}" for i in range(PROCESSES * SPOKES_PER_PROCESS)]
    builder = WorkflowBuilder(FANOUT_WORKFLOW, max_supersteps=supersteps + 10)
    builder.add_executor("hub", endpoints[0], type="hub")
    for i, spoke in enumerate(spokes):
        builder.add_executor(spoke, endpoints[i // SPOKES_PER_PROCESS], type="spoke")
    return (
        builder.add_fan_out("hub", spokes)
        .add_fan_in(spokes, "hub")
        .set_start_executor("hub")
        .build()
    )


async def run_fanout(runner: str, endpoints: list[str], supersteps: int) -> FanoutResult:
    async with RunnerClient(runner) as client:
        await client.register_workflow(fanout_definition(endpoints, supersteps))
        start = payloads.encode({"supersteps": supersteps}, type_name="FanoutStart")
        run = await client.start_run(FANOUT_WORKFLOW, start)
        run = await wait_run(client, run.run_id, timeout=300, poll=0.2)
        check_completed(run, "the fan-out run")
        completed: dict[int, float] = {}
        started = 0.0
        executes = 0
        output = None
        async for event in client.watch(run.run_id):
            if event.kind == E.EVENT_KIND_RUN_STARTED:
                started = seconds(event.time)
            elif event.kind == E.EVENT_KIND_SUPERSTEP_COMPLETED:
                completed[event.superstep] = seconds(event.time)
            elif event.kind == E.EVENT_KIND_EXECUTOR_INVOKED:
                executes += 1
            elif event.kind == E.EVENT_KIND_OUTPUT:
                output = payloads.json_value(event.data)
        # What each superstep delivered: the messages its parent checkpoint left.
        spoke_deliveries = batches = delivered = 0
        spoke_steps: set[int] = set()
        async for checkpoint in client.list_checkpoints(run.run_id, page_size=1000):
            content = await client.get_checkpoint(checkpoint.checkpoint_id, include_content=True)
            for message in content.content.pending_messages:
                delivered += 1
                if message.target_id.startswith("spoke-"):
                    spoke_deliveries += 1
                    spoke_steps.add(checkpoint.superstep + 1)
                elif message.payload.type_name == "stepline.v1.MessageBatch":
                    batches += 1
    check_supersteps(completed, supersteps)
    if not isinstance(output, dict):
        raise RuntimeError(f"the hub yielded {output!r}, not its summary")
    spokes = PROCESSES * SPOKES_PER_PROCESS
    rounds = (supersteps - 1) // 2
    if output["rounds"] != rounds or output["pongs"] != rounds * spokes:
        raise RuntimeError(f"the hub saw {output}; expected {rounds} rounds of {spokes}")
    return FanoutResult(
        supersteps=supersteps,
        delivered=delivered,
        spoke_deliveries=spoke_deliveries,
        batches=batches,
        pongs=int(output["pongs"]),
        executes=executes,
        duration=completed[supersteps] - started,
        intervals=intervals(completed),
        spoke_steps=spoke_steps,
    )


async def part_fanout(
    endpoints: list[str], supersteps: int, repeats: int, workdir: Path
) -> list[FanoutResult]:
    results: list[FanoutResult] = []
    for i in range(1, repeats + 1):
        async with (
            await start_bench_runner(workdir, f"fanout-{i}") as runner,
            tail_on_failure(runner),
        ):
            result = await run_fanout(runner.address, endpoints, supersteps)
        result.raw = await raw_rounds(endpoints, SPOKES_PER_PROCESS, (supersteps - 1) // 2)
        print(
            f"fan-out {i}/{repeats}: {result.rate:.0f} messages/s, superstep median "
            f"{result.median() * 1000:.2f} ms, round {result.round_median() * 1000:.2f} ms, "
            f"raw round {median(result.raw) * 1000:.2f} ms",
            flush=True,
        )
        results.append(result)
    return results


def report_fanout(results: list[FanoutResult]) -> None:
    r = results[0]
    spokes = PROCESSES * SPOKES_PER_PROCESS
    print()
    print(
        f"FAN-OUT: hub -> {spokes} spokes over {PROCESSES} executor processes "
        f"({SPOKES_PER_PROCESS} each) -> fan-in -> hub, {r.supersteps} supersteps"
    )
    print(
        f"  per run: {r.delivered} messages delivered = {r.spoke_deliveries} to spokes + "
        f"{r.batches} fan-in lists (carrying {r.pongs} replies) + "
        f"{r.delivered - r.spoke_deliveries - r.batches} start input; {r.executes} Execute calls"
    )
    header = (
        f"  {'run':>4} {'msgs/s':>8} {'Execute/s':>9} {'run s':>6} {'step med':>9}"
        f" {'p90':>8} {'spoke med':>9} {'hub med':>8} {'round med':>9}"
    )
    print(header)
    for i, x in enumerate(results, 1):
        print(
            f"  {i:>4} {x.rate:>8.0f} {x.executes / x.duration:>9.0f} {x.duration:>6.2f}"
            f" {x.median() * 1000:>9.2f} {x.quantile(0.9) * 1000:>8.2f}"
            f" {x.median('spoke') * 1000:>9.2f} {x.median('hub') * 1000:>8.2f}"
            f" {x.round_median() * 1000:>9.2f}"
        )
    print("  times in ms. A spoke superstep is 16 Execute calls (+ 16 SaveCheckpoint without the")
    print("  state returned with Execute) + a commit, a hub superstep 1 (+ 1) + a commit: the two")
    print("  alternate, so 'step med' (all supersteps) falls between the two; 'round med' is a")
    print("  spoke superstep plus the hub one after it, 'raw' the same calls without the runner.")
    ratios = [x.round_median() / median(x.raw) for x in results]
    for i, x in enumerate(results, 1):
        print(
            f"  run {i}: round {x.round_median() * 1000:.2f} ms, raw round "
            f"{median(x.raw) * 1000:.2f} ms: {ratios[i - 1]:.2f}x raw"
        )
    print(f"  round / raw (median of runs): {median(ratios):.2f}x, spread {spread(ratios, 1, 'x')}")
    print(f"  WITHIN 1.1x RAW gRPC: {'yes' if median(ratios) <= 1.1 else 'no'}")
    if len(results) > 1:
        print(
            f"  median of runs: {median(x.rate for x in results):.0f} messages/s, "
            f"superstep {median(x.median() for x in results) * 1000:.2f} ms"
        )
        print(f"  spread over runs: superstep {spread([x.median() for x in results])}")


async def main_async(args: argparse.Namespace) -> None:
    began = time.monotonic()
    with workdir(prefix="stepline-fanout-") as tmp:
        async with contextlib.AsyncExitStack() as stack:
            executors = [
                await stack.enter_async_context(
                    await start_executors("fanout_executors.py", tmp, f"executors-{i}")
                )
                for i in range(PROCESSES)
            ]
            endpoints = [e.address for e in executors]
            fanout = await part_fanout(endpoints, args.supersteps, args.repeats, tmp)
            memory = await part_memory(
                endpoints,
                [e.process.pid for e in executors],
                args.runs,
                args.batches,
                args.ring_hops,
                args.delay_ms,
                args.settle,
                tmp,
            )
    report_fanout(fanout)
    report_memory(memory, args.runs, args.ring_hops, args.delay_ms)
    print(f"\n({time.monotonic() - began:.0f} s in all)")


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--supersteps", type=int, default=100, help="fan-out run (default: 100)")
    options.add_argument("--repeats", type=int, default=3, help="fan-out runs (default: 3)")
    add_memory_options(options, batches=3)
    args = options.parse_args()
    if args.supersteps < 3:
        options.error("--supersteps must be at least 3")
    run_benchmark(main_async(args))


if __name__ == "__main__":
    main()
