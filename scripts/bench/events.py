"""Event delivery benchmark: many subscribers of one fast run.

The run is the self-loop of `scripts/bench/loop_executor.py` (its own process)
for `--steps` supersteps, checkpointing every superstep; each superstep commits
one batch of 4 events (SUPERSTEP_STARTED, EXECUTOR_INVOKED, EXECUTOR_COMPLETED,
SUPERSTEP_COMPLETED). The runner (`python -m stepline_runner`) is its own
process on a fresh SQLite file; every round uses fresh processes and files.

For each subscriber count (`--subscribers`, default 1, 10 and 100), the
subscribers are `RunnerClient.watch(run_id)` calls from sequence 0, each with a
`RunnerClient` (channel) of its own, in subscriber processes of this script
(`--per-process` subscribers each, default 25: 100 subscribers are 4 processes;
neither the runner's nor this process). gRPC shares one TCP connection among
the channels of a process to one address, so a process's subscribers are
HTTP/2 streams on one connection.
Their channels are connected first; the run is started with a run id chosen
here and the id is then handed to every subscriber process, so each watch
begins right at run start (a few events may already be committed by then: they
are caught up from the runner's in-memory tail and reported as "catch-up").
Count 0 is a reference round: the same run, nobody watching.

Reported per subscriber count:

- delivery: events received by all subscribers over the wall time from the
  first receipt to the last (any subscriber); per subscriber, its events over
  its own first-to-last receipt (median and minimum over subscribers). A
  subscriber that keeps up receives events as fast as the run commits them, so
  these rates are bounded by the run's own event rate, shown next to them.
- latency, live events only (committed after the subscriber's watch began),
  times in ms, median and p99 over all subscribers' events:
    built->recv: receipt time (`time.time()` in the subscriber as the event
      arrives) minus the event's `time`. `time` is set when the runner builds
      the event, and a superstep's batch is built over the whole superstep
      (SUPERSTEP_STARTED before the executor is called, SUPERSTEP_COMPLETED
      just before the commit), so this includes, for the earlier events of a
      batch, the rest of their superstep.
    commit->recv: receipt time minus the latest `time` in the event's commit
      batch (all events of one superstep), which is built just before the
      commit: an upper bound of commit-to-receipt that includes the commit.
- CPU: runner and subscriber-process CPU time over the round's wall time, and
  the 1-minute load average at the round's end (other work on the machine
  shows there).

It prints tables and exits 0: a report, not a test.

    python scripts/bench/events.py [--steps 500] [--subscribers 0,1,10,100]
                                   [--per-process 25]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
import uuid
from array import array
from dataclasses import dataclass
from pathlib import Path

from benchlib import (
    ROOT,
    check_completed,
    cpu_seconds,
    loop_tick,
    loop_workflow,
    median,
    parser,
    quantile,
    run_benchmark,
    start_bench_runner,
    start_executors,
    wait_run,
    workdir,
)

from stepline import RunnerClient
from stepline.testing import stop, tail

SCRIPT = Path(__file__).resolve()
WORKFLOW = "bench-events"
FIELDS = 5  # sequence, superstep, kind, event time (s), receipt time (s)


# -- subscriber processes (this script with --subscriber-process)
#
# Protocol on stdin/stdout: the process connects its clients and prints
# "ready"; it reads a run id line, watches that run with every client until the
# run ends, writes each subscriber's events to <out>/<index>-<i>.bin (FIELDS
# float64 per event) and prints one JSON line {"started": [...], "cpu": s}.


async def watch_one(client: RunnerClient, run_id: str) -> tuple[float, array[float]]:
    """Watch from sequence 0 to the end; return when the watch began and the
    events as flat rows of FIELDS values."""
    rows: list[tuple[int, int, int, float, float]] = []
    append = rows.append
    started = time.time()
    async for event in client.watch(run_id):
        received = time.time()
        t = event.time
        append((event.sequence, event.superstep, event.kind, t.seconds + t.nanos * 1e-9, received))
    return started, array("d", (value for row in rows for value in row))


async def subscriber_process(runner: str, count: int, out: Path, index: int) -> None:
    clients = [RunnerClient(runner) for _ in range(count)]
    try:
        await asyncio.gather(*(c.wait_for_ready() for c in clients))
        print("ready", flush=True)
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        run_id = line.strip()
        if not run_id:
            return
        cpu = time.process_time()
        results = await asyncio.gather(*(watch_one(c, run_id) for c in clients))
        cpu = time.process_time() - cpu
        for i, (_, rows) in enumerate(results):
            with (out / f"{index}-{i}.bin").open("wb") as f:
                rows.tofile(f)
        print(json.dumps({"started": [s for s, _ in results], "cpu": cpu}), flush=True)
    finally:
        await asyncio.gather(*(c.close() for c in clients))


@dataclass
class SubscriberProcess:
    index: int
    count: int
    process: asyncio.subprocess.Process


async def start_subscribers(
    runner: str, counts: list[int], out: Path, log: Path
) -> list[SubscriberProcess]:
    """Start one subscriber process per entry of `counts`; wait until all are ready."""
    started: list[SubscriberProcess] = []
    try:
        for index, count in enumerate(counts):
            with log.open("ab") as err:
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    str(SCRIPT),
                    "--subscriber-process",
                    "--runner",
                    runner,
                    "--count",
                    str(count),
                    "--out",
                    str(out),
                    "--index",
                    str(index),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=err,
                    cwd=ROOT,
                )
            started.append(SubscriberProcess(index, count, process))
        async with asyncio.timeout(60):
            for s in started:
                assert s.process.stdout is not None
                if (await s.process.stdout.readline()).strip() != b"ready":
                    raise RuntimeError(f"subscriber process {s.index} failed:\n{tail(log)}")
    except BaseException:
        await asyncio.gather(*(stop(s.process) for s in started))
        raise
    return started


# -- one round


@dataclass
class Subscriber:
    started: float  # time.time() when its watch began
    rows: array[float]  # flat, FIELDS per event

    def column(self, field: int) -> array[float]:
        return self.rows[field::FIELDS]


@dataclass
class Round:
    subscribers: int
    processes: int
    events: int  # events of the run (last sequence)
    supersteps: int
    run_seconds: float  # first to last event `time` of the run
    wall: float  # start of the run to the end of the last watch (or of the run)
    runner_cpu: float
    subscriber_cpu: float
    load: float  # 1-minute load average at the end
    received: list[Subscriber]


async def one_round(steps: int, subscribers: int, per_process: int, workdir: Path) -> Round:
    counts = [min(per_process, subscribers - i) for i in range(0, subscribers, per_process)]
    out = workdir / "events"
    out.mkdir()
    async with contextlib.AsyncExitStack() as stack:
        executor = await stack.enter_async_context(
            await start_executors("loop_executor.py", workdir)
        )
        runner = await stack.enter_async_context(await start_bench_runner(workdir))
        client = await stack.enter_async_context(RunnerClient(runner.address))
        await client.register_workflow(loop_workflow(WORKFLOW, executor.address, steps))
        procs = await start_subscribers(runner.address, counts, out, workdir / "subscribers.log")

        async def stop_subscribers() -> None:
            await asyncio.gather(*(stop(p.process) for p in procs))

        stack.push_async_callback(stop_subscribers)

        run_id = uuid.uuid4().hex
        runner_cpu = cpu_seconds(runner.process.pid)
        begin = time.time()
        await client.start_run(WORKFLOW, loop_tick(1, steps), run_id=run_id)
        for p in procs:
            assert p.process.stdin is not None
            p.process.stdin.write(f"{run_id}\n".encode())
        await asyncio.gather(*(p.process.stdin.drain() for p in procs if p.process.stdin))

        async with asyncio.timeout(300):
            reports = await asyncio.gather(*(read_report(p) for p in procs))
            ended = await wait_run(client, run_id, timeout=300, poll=0.05)
        wall = time.time() - begin
        runner_cpu = cpu_seconds(runner.process.pid) - runner_cpu
        try:
            check_completed(ended)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{runner.tail()}") from None
        # The run's own timing, from its stored events.
        times = [e.time.ToNanoseconds() / 1e9 async for e in client.watch(run_id)]

    received: list[Subscriber] = []
    for p, (started, _) in zip(procs, reports, strict=True):
        for i, when in enumerate(started):
            rows = array("d")
            path = out / f"{p.index}-{i}.bin"
            rows.frombytes(path.read_bytes())
            received.append(Subscriber(when, rows))
    return Round(
        subscribers=subscribers,
        processes=len(procs),
        events=ended.last_sequence,
        supersteps=ended.superstep,
        run_seconds=max(times) - min(times),
        wall=wall,
        runner_cpu=runner_cpu,
        subscriber_cpu=sum(cpu for _, cpu in reports),
        load=os.getloadavg()[0],
        received=received,
    )


async def read_report(p: SubscriberProcess) -> tuple[list[float], float]:
    """A subscriber process's final JSON line: watch start times and CPU seconds."""
    assert p.process.stdout is not None
    line = await p.process.stdout.readline()
    code = await p.process.wait()
    if code != 0 or not line:
        raise RuntimeError(f"subscriber process {p.index} exited with {code}")
    data = json.loads(line)
    return [float(s) for s in data["started"]], float(data["cpu"])


# -- analysis


@dataclass
class Stats:
    subscribers: int
    processes: int
    events: int
    supersteps: int
    run_seconds: float
    wall: float
    runner_cpu: float
    subscriber_cpu: float
    load: float
    complete: bool  # every subscriber got 1..events, in order, once each
    delivered: int = 0
    delivery_wall: float = 0.0
    per_sub_median: float = 0.0
    per_sub_min: float = 0.0
    catch_up: int = 0  # events committed before their subscriber's watch began
    built: tuple[float, float] = (0.0, 0.0)  # median, p99 (s)
    commit: tuple[float, float] = (0.0, 0.0)
    end_lag: float = 0.0  # last receipt minus the run's last event time

    @property
    def run_rate(self) -> float:
        return self.events / self.run_seconds

    @property
    def rate(self) -> float:
        return self.delivered / self.delivery_wall if self.delivery_wall else 0.0


def analyse(r: Round) -> Stats:
    s = Stats(
        r.subscribers,
        r.processes,
        r.events,
        r.supersteps,
        r.run_seconds,
        r.wall,
        r.runner_cpu,
        r.subscriber_cpu,
        r.load,
        complete=True,
    )
    if not r.received:
        return s
    expected = array("d", range(1, r.events + 1))
    s.complete = all(sub.column(0) == expected for sub in r.received)
    # A commit batch is one superstep's events (superstep 0: the run's start);
    # its latest-built event is built right before the commit.
    batch_time: dict[int, float] = {}
    first = r.received[0]
    for step, built in zip(first.column(1), first.column(3), strict=True):
        batch_time[int(step)] = max(batch_time.get(int(step), 0.0), built)
    built_lat: list[float] = []
    commit_lat: list[float] = []
    rates: list[float] = []
    first_receipt, last_receipt = float("inf"), 0.0
    for sub in r.received:
        receipts = sub.column(4)
        s.delivered += len(receipts)
        first_receipt = min(first_receipt, receipts[0])
        last_receipt = max(last_receipt, receipts[-1])
        if len(receipts) > 1:
            rates.append((len(receipts) - 1) / (receipts[-1] - receipts[0]))
        for step, built, received in zip(sub.column(1), sub.column(3), receipts, strict=True):
            committed = batch_time[int(step)]
            if committed < sub.started:
                s.catch_up += 1
                continue
            built_lat.append(received - built)
            commit_lat.append(received - committed)
    s.delivery_wall = last_receipt - first_receipt
    s.per_sub_median = median(rates)
    s.per_sub_min = min(rates)
    s.built = (median(built_lat), quantile(built_lat, 0.99))
    s.commit = (median(commit_lat), quantile(commit_lat, 0.99))
    s.end_lag = last_receipt - max(batch_time.values())
    return s


# -- report


def report(stats: list[Stats], steps: int, per_process: int) -> None:
    print()
    print(
        f"event delivery: self-loop, {steps} supersteps, 4 events per superstep commit; "
        f"fresh runner per round"
    )
    print(
        f"subscribers: RunnerClient.watch(run_id) from sequence 0, one channel each, "
        f"up to {per_process} per subscriber process"
    )
    print("  (a process's channels share one TCP connection: one HTTP/2 stream per subscriber)")
    print()
    head = (
        f"{'subs':>5} {'procs':>5} {'events':>6} {'run s':>6} {'run ev/s':>8}"
        f" {'delivered':>9} {'recv s':>6} {'all ev/s':>9} {'sub ev/s med':>12}"
        f" {'min':>7} {'end lag ms':>10} {'runner cpu':>10} {'subs cpu':>8} {'load':>5} {'ok':>3}"
    )
    print(head)
    print("-" * len(head))
    for s in stats:
        cpu = f"{s.runner_cpu / s.wall:>9.0%}"
        if not s.subscribers:
            print(
                f"{0:>5} {'-':>5} {s.events:>6} {s.run_seconds:>6.2f} {s.run_rate:>8.0f}"
                f" {'-':>9} {'-':>6} {'-':>9} {'-':>12} {'-':>7} {'-':>10} {cpu:>10}"
                f" {'-':>8} {s.load:>5.1f} {'-':>3}"
            )
            continue
        print(
            f"{s.subscribers:>5} {s.processes:>5} {s.events:>6} {s.run_seconds:>6.2f}"
            f" {s.run_rate:>8.0f} {s.delivered:>9} {s.delivery_wall:>6.2f} {s.rate:>9.0f}"
            f" {s.per_sub_median:>12.0f} {s.per_sub_min:>7.0f} {s.end_lag * 1000:>10.1f}"
            f" {cpu:>10} {s.subscriber_cpu / s.wall:>8.0%} {s.load:>5.1f}"
            f" {'yes' if s.complete else 'NO':>3}"
        )
    print()
    head = (
        f"{'subs':>5} {'live events':>11} {'catch-up':>8}"
        f" {'built->recv med':>15} {'p99':>8} {'commit->recv med':>16} {'p99':>8}"
    )
    print("latency, ms, live events only (median and p99 over all subscribers' events)")
    print(head)
    print("-" * len(head))
    for s in stats:
        if not s.subscribers:
            continue
        print(
            f"{s.subscribers:>5} {s.delivered - s.catch_up:>11} {s.catch_up:>8}"
            f" {s.built[0] * 1000:>15.2f} {s.built[1] * 1000:>8.2f}"
            f" {s.commit[0] * 1000:>16.2f} {s.commit[1] * 1000:>8.2f}"
        )
    print()
    print("run ev/s: the run's events over its first-to-last event time (what it commits).")
    print("all ev/s: events received by all subscribers over first-to-last receipt (any).")
    print("sub ev/s: one subscriber's events over its own first-to-last receipt; med, min.")
    print("end lag: last receipt (any subscriber) minus the run's last event time.")
    print("runner cpu, subs cpu: CPU time over the round's wall time (100% = one core);")
    print(f"  load: 1-minute load average at the round's end ({os.cpu_count()} CPUs).")
    print("ok: every subscriber received sequences 1..events, in order, once each.")
    print("built->recv: receipt time.time() in the subscriber minus the event's `time`; the")
    print("  runner sets `time` when it builds the event, for a superstep's first events")
    print("  before the executor is even called, so this includes the rest of the superstep.")
    print("commit->recv: receipt minus the latest `time` of the event's commit batch, built")
    print("  just before the commit: an upper bound of commit-to-receipt, commit included.")
    print("catch-up: events committed before their subscriber's watch began (the watch")
    print("  starts right after StartRun returns); left out of the latency columns.")


async def main_async(args: argparse.Namespace) -> None:
    # SIGTERM unwinds like Ctrl-C, so the processes started here are stopped.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    stats: list[Stats] = []
    started = time.monotonic()
    for n in args.subscribers:
        with workdir() as tmp:
            r = await one_round(args.steps, n, args.per_process, tmp)
        s = analyse(r)
        stats.append(s)
        print(
            f"{n} subscribers: run {s.run_seconds:.2f}s, {s.delivered} events delivered "
            f"({time.monotonic() - started:.0f}s)",
            flush=True,
        )
    report(stats, args.steps, args.per_process)


def counts(text: str) -> list[int]:
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError("a comma-separated list of counts, 0 or more")
    return values


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--steps", type=int, default=500, help="supersteps (default: 500)")
    options.add_argument(
        "--subscribers",
        type=counts,
        default=[0, 1, 10, 100],
        help="subscriber counts, one round each; 0 = nobody watching (default: 0,1,10,100)",
    )
    options.add_argument(
        "--per-process",
        type=int,
        default=25,
        help="subscribers per subscriber process (default: 25)",
    )
    # Internal: run as one subscriber process.
    options.add_argument("--subscriber-process", action="store_true", help=argparse.SUPPRESS)
    options.add_argument("--runner", help=argparse.SUPPRESS)
    options.add_argument("--count", type=int, help=argparse.SUPPRESS)
    options.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    options.add_argument("--index", type=int, help=argparse.SUPPRESS)
    args = options.parse_args()
    if args.subscriber_process:
        asyncio.run(subscriber_process(args.runner, args.count, args.out, args.index))
        return
    if args.steps < 10:
        options.error("--steps must be at least 10")
    if args.per_process < 1:
        options.error("--per-process must be at least 1")
    run_benchmark(main_async(args))


if __name__ == "__main__":
    main()
