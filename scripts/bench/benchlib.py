"""What the benchmarks share: their command line, the processes they start,
the loop workflow, waiting for runs, and medians and spreads for the report.

Every benchmark here is a script run from the repository root; this module
sits next to them (Python puts a script's directory first on `sys.path`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator, Coroutine, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from stepline import RunnerClient, WorkflowBuilder, payloads
from stepline.testing import Service, start_executor_service, start_runner
from stepline.v1 import events_pb2, payload_pb2, runner_pb2, workflow_pb2

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
E = events_pb2
TERMINAL = (E.RUN_STATUS_COMPLETED, E.RUN_STATUS_FAILED, E.RUN_STATUS_CANCELLED)


# -- the command line


def parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser described by the first paragraph of the benchmark's docstring."""
    return argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])


def run_benchmark(main: Coroutine[Any, Any, None]) -> None:
    """Run the benchmark's main coroutine, its progress lines unbuffered (also
    in the processes it starts)."""
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    asyncio.run(main)


@contextlib.contextmanager
def workdir(keep: str | Path | None = None, prefix: str = "stepline-bench-") -> Iterator[Path]:
    """A temporary directory for SQLite files and logs, gone afterwards; or
    `keep`, created if needed and kept."""
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        yield Path(keep)
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


# -- processes


async def start_executors(
    script: str, workdir: Path, name: str = "executor", env: dict[str, str] | None = None
) -> Service:
    """`scripts/bench/<script>` as an executor service; stderr to `<name>.log`;
    `env` added to its environment."""
    log = fresh(workdir / f"{name}.log")
    return await start_executor_service(HERE / script, name=name, log=log, cwd=ROOT, env=env)


@contextlib.contextmanager
def on_cpu(cpu: int | None) -> Iterator[None]:
    """Processes started inside the block run on CPU `cpu` alone, all their
    threads (a child inherits the affinity of the thread that starts it);
    None: where the OS puts them. The calling thread's own is put back after."""
    if cpu is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def two_cpus() -> tuple[int, int]:
    """Two CPUs this process may run on (for a runner and an executor each
    on its own); SystemExit when there are fewer."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit(f"pinning needs two CPUs; this process may use {len(cpus)}")
    return cpus[0], cpus[1]


def checkout_env(src: Path) -> dict[str, str]:
    """The environment that runs a process on the checkout in `src` (an
    earlier commit's `git worktree`): PYTHONPATH on its `sdk` and `server`."""
    return {"PYTHONPATH": f"{src / 'sdk'}{os.pathsep}{src / 'server'}"}


async def start_bench_runner(
    workdir: Path,
    name: str = "runner",
    env: dict[str, str] | None = None,
    options: Sequence[str] = (),
) -> Service:
    """The runner on a fresh `<name>.db`; its stderr to `<name>.log`; `env`
    added to its environment, `options` to its command line."""
    db, log = fresh(workdir / f"{name}.db"), fresh(workdir / f"{name}.log")
    return await start_runner(db, 0, *options, log=log, cwd=ROOT, env=env)


def fresh(path: Path) -> Path:
    """`path` (a SQLite file or a log) with any earlier files of that name
    (and the SQLite file's -wal and -shm) gone, for a kept directory."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


@contextlib.asynccontextmanager
async def tail_on_failure(service: Service) -> AsyncIterator[None]:
    """If the block fails, print the end of the service's log first."""
    try:
        yield
    except BaseException:
        print(service.tail(), file=sys.stderr)
        raise


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a live process, from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int, field_name: str = "VmRSS") -> int:
    """A memory field of /proc/<pid>/status, in KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field_name} in /proc/{pid}/status")


def load_average() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


# -- the loop workflow (loop_executor.py) and runs


def loop_workflow(workflow_id: str, endpoint: str, steps: int) -> workflow_pb2.WorkflowDefinition:
    """One `loop` executor sending itself a message every superstep."""
    return (
        WorkflowBuilder(workflow_id, max_supersteps=steps + 10)
        .add_executor("loop", endpoint, type="loop")
        .add_edge("loop", "loop")
        .set_start_executor("loop")
        .build()
    )


def loop_tick(step: int, limit: int) -> payload_pb2.Payload:
    """loop_executor.py's `Tick` dataclass as it travels: its type name, JSON fields."""
    return payloads.encode({"step": step, "limit": limit}, type_name="Tick")


async def wait_run(
    client: RunnerClient, run_id: str, timeout: float, poll: float = 0.25
) -> runner_pb2.Run:
    """Poll slowly until the run ends (a live watcher would cost the runner work)."""
    async with asyncio.timeout(timeout):
        while True:
            run = await client.get_run(run_id)
            if run.status in TERMINAL:
                return run
            await asyncio.sleep(poll)


def check_completed(run: runner_pb2.Run, what: str = "the run") -> None:
    """RuntimeError unless the run completed."""
    if run.status != E.RUN_STATUS_COMPLETED:
        raise RuntimeError(
            f"{what} ended {E.RunStatus.Name(run.status)}: {run.error.type}: {run.error.message}"
        )


def seconds(ts: Timestamp) -> float:
    """A protobuf Timestamp as epoch seconds."""
    return ts.ToNanoseconds() / 1e9


async def superstep_times(client: RunnerClient, run_id: str, steps: int) -> dict[int, float]:
    """Superstep -> time of its SUPERSTEP_COMPLETED event, for a run that ended
    after supersteps 1..`steps` (RuntimeError if any is missing)."""
    times = {
        e.superstep: seconds(e.time)
        async for e in client.watch(run_id, kinds=[E.EVENT_KIND_SUPERSTEP_COMPLETED])
    }
    check_supersteps(times, steps)
    return times


def check_supersteps(times: dict[int, float], steps: int) -> None:
    if sorted(times) != list(range(1, steps + 1)):
        raise RuntimeError(f"expected SUPERSTEP_COMPLETED for 1..{steps}, got {len(times)}")


def intervals(times: dict[int, float], after: int = 1) -> dict[int, float]:
    """Superstep k -> time(k) - time(k - 1), for every k > `after` with both."""
    return {k: t - times[k - 1] for k, t in times.items() if k > after and k - 1 in times}


# -- statistics and the report


def median(values: Iterable[float]) -> float:
    return statistics.median(values)


def quantile(values: Iterable[float], q: float) -> float:
    """The `q` quantile by rank (0.99: p99)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float, width: int = 7, digits: int = 3) -> str:
    return f"{seconds * 1000:{width}.{digits}f}"


def spread(values: Sequence[float], scale: float = 1000.0, unit: str = "ms") -> str:
    """ "median M unit (min A, max B, n N)": how much repeats differ."""
    if not values:
        return "no samples"
    return (
        f"median {median(values) * scale:.3f} {unit} (min {min(values) * scale:.3f},"
        f" max {max(values) * scale:.3f}, n {len(values)})"
    )
