"""Event delivery benchmark: many subscribers of one fast run.

The run is the self-loop of `scripts/bench/loop_executor.py` (its own process)
for `--steps` supersteps, checkpointing every superstep; each superstep commits
one batch of 4 events (SUPERSTEP_STARTED, EXECUTOR_INVOKED, EXECUTOR_COMPLETED,
SUPERSTEP_COMPLETED). The runner (`python -m stepline_runner`) is its own
process on a fresh SQLite file; every round uses fresh processes and files.

For each subscriber count (`--subscribers`, default 1, 10 and 100), the
subscribers are `RunnerClient.watch(run_id)` calls from sequence 0 (or with
`--watch all`, `RunnerClient.watch_all(workflow_id=...)`, WatchRuns), each
with a `RunnerClient` (channel) of its own, in subscriber processes
(`events_subscribers.py`, `--per-process` subscribers each, default 25: 100
subscribers are 4 processes; neither the runner's nor this process). Each
client has a TCP connection of its own (the SDK's channels take no shared
subchannel pool: `stepline.limits`), as subscribers on 100 machines would:
100 subscribers are 100 connections to the runner. Each records
only the sequence and receipt time of every event (the rest is looked up in
the stored run afterwards), so that what is measured is the delivery.
WatchRun: the channels are connected first; the run is started with a run id
chosen here and the id is then handed to every subscriber process, so each
watch begins right at run start (a few events may already be committed by
then: they are caught up from the runner's in-memory tail and reported as
"catch-up"). WatchRuns: every subscription first sees a short priming run of
the workflow to its end (so it is live), then the run is started.
Count 0 is a reference round: the same run, nobody watching. `--rounds N`
repeats the counts N times and ends with medians (min-max) over repeats,
with each count's run time over that of its repeat's round with nobody
watching. `--base-src DIR` runs every repeat on the checkout in DIR too
(the runner, executor and subscriber processes with PYTHONPATH on its `sdk`
and `server`), the two in turns, and ends with both summaries and this
checkout's figures over the base's. `--postgres` puts the runner on a
PostgreSQL database (a temporary server, as `leases.py` does) instead. With
`--front`, the subscribers watch through a second runner on that
database that drives no runs (`--max-runs 0`; on the SQLite file, one
that follows it, `--follow`): the run is driven by one process and watched
through another. `--apart CPUS` keeps the subscriber processes (and the
front runner) on those CPUs: on a small machine the subscribers, which
stand for clients on other machines, otherwise take the CPU the run's two
processes overlap on, and the run slows as much by them as by its server.

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
- CPU: CPU seconds of the runner over the round, of the executor's process
  (and the front runner's) over the round, and of the subscriber processes
  while they watched, and the 1-minute load average at the round's
  end (other work on the machine shows there).

It prints tables and exits 0: a report, not a test.

    python scripts/bench/events.py [--steps 500] [--subscribers 0,1,10,100]
                                   [--per-process 25] [--watch run|all] [--rounds 1]
                                   [--base-src DIR] [--postgres] [--front] [--apart CPUS]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
import uuid
from array import array
from pathlib import Path

from benchlib import (
    ROOT,
    check_completed,
    checkout_env,
    cpu_seconds,
    loop_tick,
    loop_workflow,
    parser,
    run_benchmark,
    start_bench_runner,
    start_executors,
    wait_run,
    workdir,
)
from events_processes import (
    WORKFLOW,
    cpu_list,
    pin,
    prime,
    read_report,
    start_subscribers,
)
from events_stats import Round, Stats, Subscriber, analyse, compare, report, summary

from stepline import RunnerClient
from stepline.testing import Service, start_runner, stop

sys.path.insert(0, str(ROOT))  # tests.support.postgres: the server the tests use
from tests.support.postgres import DSN_VARIABLE, TemporaryPostgres


async def start_runners(
    stack: contextlib.AsyncExitStack,
    workdir: Path,
    env: dict[str, str],
    postgres: TemporaryPostgres | None,
    on_front: bool,
) -> tuple[Service, Service]:
    """The runner that drives the run, on a fresh SQLite file or (`postgres`)
    a fresh database of that server; and the one the subscribers watch through:
    the same, or (`on_front`) a second runner on that database that drives
    no runs (`--max-runs 0`; on SQLite, one that follows the file, `--follow`)."""
    if postgres is None:
        runner = await stack.enter_async_context(await start_bench_runner(workdir, env=env))
        if not on_front:
            return runner, runner
        follower = await start_runner(
            workdir / "runner.db", 0, "--follow", log=workdir / "front.log", cwd=ROOT, env=env
        )
        return runner, await stack.enter_async_context(follower)
    db = postgres.new_database("bench_events")
    shared = ("--lease-seconds", "10")
    runner = await stack.enter_async_context(
        await start_runner(db, 0, *shared, log=workdir / "runner.log", cwd=ROOT, env=env)
    )
    if not on_front:
        return runner, runner
    front = await stack.enter_async_context(
        await start_runner(
            db, 0, *shared, "--max-runs", "0", log=workdir / "front.log", cwd=ROOT, env=env
        )
    )
    return runner, front


async def one_round(
    steps: int,
    subscribers: int,
    per_process: int,
    watch: str,
    workdir: Path,
    env: dict[str, str] | None = None,
    postgres: TemporaryPostgres | None = None,
    on_front: bool = False,
    apart: set[int] | None = None,
) -> Round:
    """One run watched by `subscribers`; `env`: more of its processes'
    environment; `postgres`, `on_front`: as `start_runners`; `apart`: the
    CPUs the subscriber processes (and a front runner) are kept on."""
    env = env or {}
    counts = [min(per_process, subscribers - i) for i in range(0, subscribers, per_process)]
    out = workdir / "events"
    out.mkdir()
    log = workdir / "subscribers.log"
    run_id = uuid.uuid4().hex
    extra = ["--watch", watch]
    if watch == "all":
        extra += ["--workflow", WORKFLOW, "--run-id", run_id]
    async with contextlib.AsyncExitStack() as stack:
        executor = await stack.enter_async_context(
            await start_executors("loop_executor.py", workdir, env=env)
        )
        runner, front = await start_runners(stack, workdir, env, postgres, on_front)
        client = await stack.enter_async_context(RunnerClient(runner.address))
        await client.register_workflow(loop_workflow(WORKFLOW, executor.address, steps))
        procs = await start_subscribers(front.address, counts, out, log, extra, env)
        others = {executor.process.pid, front.process.pid} - {runner.process.pid}
        if apart is not None:
            for pid in [p.process.pid for p in procs] + list(others - {executor.process.pid}):
                pin(pid, apart)

        async def stop_subscribers() -> None:
            await asyncio.gather(*(stop(p.process) for p in procs))

        stack.push_async_callback(stop_subscribers)
        if watch == "all":  # every subscription live before the run starts
            await prime(client, procs, log)

        runner_cpu = cpu_seconds(runner.process.pid)
        other_cpu = sum(map(cpu_seconds, others))
        begin = time.time()
        await client.start_run(WORKFLOW, loop_tick(1, steps), run_id=run_id)
        if watch == "run":
            for p in procs:
                assert p.process.stdin is not None
                p.process.stdin.write(f"{run_id}\n".encode())
            await asyncio.gather(*(p.process.stdin.drain() for p in procs if p.process.stdin))

        async with asyncio.timeout(300):
            reports = await asyncio.gather(*(read_report(p) for p in procs))
            ended = await wait_run(client, run_id, timeout=300, poll=0.05)
        wall = time.time() - begin
        runner_cpu = cpu_seconds(runner.process.pid) - runner_cpu
        other_cpu = sum(map(cpu_seconds, others)) - other_cpu
        try:
            check_completed(ended)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{runner.tail()}") from None
        # The run's own timing, from its stored events.
        stored = [(e.superstep, e.time.ToNanoseconds() / 1e9) async for e in client.watch(run_id)]

    received: list[Subscriber] = []
    for p, (started, _) in zip(procs, reports, strict=True):
        for i, when in enumerate(started):
            rows = array("d")
            rows.frombytes((out / f"{p.index}-{i}.bin").read_bytes())
            received.append(Subscriber(when, rows))
    return Round(
        subscribers=subscribers,
        processes=len(procs),
        events=ended.last_sequence,
        supersteps=ended.superstep,
        stored=stored,
        wall=wall,
        runner_cpu=runner_cpu,
        other_cpu=other_cpu,
        subscriber_cpu=sum(cpu for _, cpu in reports),
        load=os.getloadavg()[0],
        received=received,
    )


async def main_async(args: argparse.Namespace) -> None:
    # SIGTERM unwinds like Ctrl-C, so the processes started here are stopped.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    if not args.postgres:
        return await measure(args, None)
    with TemporaryPostgres(os.environ.get(DSN_VARIABLE)) as postgres:
        await measure(args, postgres)


async def measure(args: argparse.Namespace, postgres: TemporaryPostgres | None) -> None:
    variants: list[tuple[str, dict[str, str]]] = [("this", {})]
    if args.base_src is not None:
        variants.insert(0, ("base", checkout_env(args.base_src.resolve())))
    rounds: dict[str, list[list[Stats]]] = {name: [] for name, _ in variants}
    started = time.monotonic()
    for repeat in range(args.rounds):
        # In turns, the other one first every other repeat.
        for name, env in variants if repeat % 2 == 0 else variants[::-1]:
            stats: list[Stats] = []
            for n in args.subscribers:
                with workdir() as tmp:
                    r = await one_round(
                        args.steps,
                        n,
                        args.per_process,
                        args.watch,
                        tmp,
                        env,
                        postgres,
                        args.front,
                        args.apart,
                    )
                s = analyse(r)
                stats.append(s)
                label = f"{name}: " if len(variants) > 1 else ""
                print(
                    f"{label}{n} subscribers: run {s.run_seconds:.2f}s, {s.delivered} events "
                    f"delivered, runner cpu {s.runner_cpu:.2f}s, subscribers cpu "
                    f"{s.subscriber_cpu:.2f}s ({time.monotonic() - started:.0f}s)",
                    flush=True,
                )
            rounds[name].append(stats)
    for name, _ in variants:
        if len(variants) > 1:
            print(f"\n== {name}")
        report(rounds[name][-1], args.steps, args.per_process, args.watch)
        if args.rounds > 1:
            summary(rounds[name])
    if len(variants) > 1:
        compare(rounds["base"], rounds["this"])


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
    options.add_argument(
        "--watch",
        choices=["run", "all"],
        default="run",
        help="run: WatchRun of the run (default); all: WatchRuns of its workflow",
    )
    options.add_argument("--rounds", type=int, default=1, help="repeats of the counts (default: 1)")
    options.add_argument(
        "--postgres",
        action="store_true",
        help="the runners on a PostgreSQL database (a temporary server, or $"
        + DSN_VARIABLE
        + "), not a SQLite file",
    )
    options.add_argument(
        "--front",
        action="store_true",
        help="the subscribers watch through a second runner that drives no runs: on "
        "PostgreSQL one with --max-runs 0, on SQLite one that follows the file (--follow)",
    )
    options.add_argument(
        "--apart",
        type=cpu_list,
        metavar="CPUS",
        help="keep the subscriber processes (and the front runner) on these CPUs (e.g. 1 or "
        "2,3), standing for the other machines subscribers are on; the runner and the "
        "executor run anywhere (default: all run anywhere)",
    )
    options.add_argument(
        "--base-src", type=Path, help="a checkout to run in turns with this one (the base)"
    )
    args = options.parse_args()
    if args.steps < 10:
        options.error("--steps must be at least 10")
    if args.per_process < 1:
        options.error("--per-process must be at least 1")
    if args.rounds < 1:
        options.error("--rounds must be at least 1")
    run_benchmark(main_async(args))


if __name__ == "__main__":
    main()
