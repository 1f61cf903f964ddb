"""The subscriber processes of `events.py` (events_subscribers.py, each with
`--per-process` subscribers): started, primed, read back; and the CPUs
they (and a front runner) are kept on (`--apart`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from benchlib import ROOT, check_completed, loop_tick, wait_run
from events_subscribers import PRIME

from stepline import RunnerClient
from stepline.testing import stop, tail

WORKFLOW = "bench-events"
SUBSCRIBERS = Path(__file__).resolve().with_name("events_subscribers.py")


@dataclass
class SubscriberProcess:
    index: int
    count: int
    process: asyncio.subprocess.Process


def cpu_list(text: str) -> set[int]:
    parts = [c.strip() for c in text.split(",")]
    cpus = {int(c) for c in parts if c.isdigit()}
    if len(cpus) != len(set(parts)) or not cpus or not cpus <= os.sched_getaffinity(0):
        raise argparse.ArgumentTypeError(f"not CPUs of this machine: {text[:40]!r}")
    return cpus


async def start_subscribers(
    runner: str, counts: list[int], out: Path, log: Path, extra: list[str], env: dict[str, str]
) -> list[SubscriberProcess]:
    """Start one subscriber process per entry of `counts` (`extra`: more of
    its options, `env`: more of its environment); wait until all are ready."""
    started: list[SubscriberProcess] = []
    try:
        for index, count in enumerate(counts):
            with log.open("ab") as err:
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    str(SUBSCRIBERS),
                    *("--runner", runner, "--count", str(count)),
                    *("--out", str(out), "--index", str(index), *extra),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=err,
                    cwd=ROOT,
                    env={**os.environ, **env},
                )
            started.append(SubscriberProcess(index, count, process))
        await said(started, b"ready", log)
    except BaseException:
        await asyncio.gather(*(stop(s.process) for s in started))
        raise
    return started


async def said(procs: list[SubscriberProcess], word: bytes, log: Path) -> None:
    """Wait (a minute at most) until every process printed `word`."""
    async with asyncio.timeout(60):
        for s in procs:
            assert s.process.stdout is not None
            if (await s.process.stdout.readline()).strip() != word:
                raise RuntimeError(f"subscriber process {s.index} failed:\n{tail(log)}")


async def prime(client: RunnerClient, procs: list[SubscriberProcess], log: Path) -> None:
    """Short runs of the workflow, one after the other, until every process
    says each of its subscriptions saw one end (a subscription that reached
    the runner only after a run began waits for the next)."""
    primed = asyncio.ensure_future(said(procs, b"primed", log))
    try:
        for _ in range(50):
            run_id = PRIME + uuid.uuid4().hex
            await client.start_run(WORKFLOW, loop_tick(1, 2), run_id=run_id)
            check_completed(await wait_run(client, run_id, timeout=60, poll=0.05))
            done, _ = await asyncio.wait([primed], timeout=1.0)
            if done:
                return await primed
        raise RuntimeError(f"subscriptions not live after 50 priming runs:\n{tail(log)}")
    finally:
        primed.cancel()


async def read_report(p: SubscriberProcess) -> tuple[list[float], float]:
    """A subscriber process's final JSON line: watch start times and CPU seconds."""
    assert p.process.stdout is not None
    line = await p.process.stdout.readline()
    code = await p.process.wait()
    if code != 0 or not line:
        raise RuntimeError(f"subscriber process {p.index} exited with {code}")
    data = json.loads(line)
    return [float(s) for s in data["started"]], float(data["cpu"])


def pin(pid: int, cpus: set[int]) -> None:
    """Keep every thread of the process on `cpus` (threads it makes later
    inherit it)."""
    for thread in os.listdir(f"/proc/{pid}/task"):
        os.sched_setaffinity(int(thread), cpus)
