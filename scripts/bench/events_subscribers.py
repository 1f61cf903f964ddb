"""The subscriber processes of `events.py`: each runs `--count` subscribers
of one run, each with a `RunnerClient` (channel) of its own.

Protocol on stdin/stdout, with `--watch run` (RunWatch: `RunnerClient.watch`
from sequence 0): the process connects its clients and prints "ready"; it
reads a run id line and watches that run with every client until the run
ends. With `--watch all` (`RunnerClient.watch_all` of the workflow): it
subscribes with every client, prints "ready", and prints "primed" once every
subscription has seen the end of a short priming run (an id starting with
PRIME), which proves it live; it then records the events of run `--run-id`
until that run's end. Either way it writes each subscriber's events to
<out>/<index>-<i>.bin (FIELDS float64 per event: the event's sequence and
its receipt time) and prints one JSON line {"started": [...], "cpu": s}.

    python events_subscribers.py --runner ADDRESS --count N --out DIR --index I
                                 [--watch run | --watch all --workflow W --run-id ID]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from array import array
from collections.abc import AsyncIterator
from pathlib import Path

from stepline import RunnerClient
from stepline.v1 import events_pb2 as E

FIELDS = 2  # sequence, receipt time (s)
PRIME = "prime-"  # the ids of priming runs start so
TERMINAL = frozenset({E.RUN_STATUS_COMPLETED, E.RUN_STATUS_FAILED, E.RUN_STATUS_CANCELLED})


def ends(event: E.Event) -> bool:
    return event.kind == E.EVENT_KIND_STATUS_CHANGED and event.status in TERMINAL


async def record(events: AsyncIterator[E.Event], run_id: str = "") -> array[float]:
    """Events from `events` as flat rows of FIELDS values, as light as it can
    be (to measure the delivery, not this): all of them, or with `run_id`
    only that run's, until its end."""
    rows = array("d")
    append = rows.append
    clock = time.time
    if not run_id:  # a WatchRun stream: it ends with its run
        async for event in events:
            append(event.sequence)
            append(clock())
        return rows
    async for event in events:
        if event.run_id == run_id:
            append(event.sequence)
            append(clock())
            if ends(event):
                break
    return rows


async def watch_run(client: RunnerClient, run_id: str) -> tuple[float, array[float]]:
    """Watch from sequence 0 to the end; when the watch began, and the events."""
    started = time.time()
    return started, await record(client.watch(run_id))


async def watch_all(
    client: RunnerClient, workflow: str, run_id: str, primed: asyncio.Event
) -> tuple[float, array[float]]:
    """Follow every run of the workflow: a priming run to its end (then set
    `primed`), then the measured run."""
    events = aiter(client.watch_all(workflow_id=workflow))
    async for event in events:
        if event.run_id.startswith(PRIME) and ends(event):
            break
    primed.set()
    started = time.time()
    return started, await record(events, run_id)


async def subscriber_process(args: argparse.Namespace) -> None:
    clients = [RunnerClient(args.runner) for _ in range(args.count)]
    try:
        await asyncio.gather(*(c.wait_for_ready() for c in clients))
        if args.watch == "all":
            flags = [asyncio.Event() for _ in clients]
            watching = [
                asyncio.ensure_future(watch_all(c, args.workflow, args.run_id, f))
                for c, f in zip(clients, flags, strict=True)
            ]
            print("ready", flush=True)
            await asyncio.gather(*(f.wait() for f in flags))
            print("primed", flush=True)
            cpu = time.process_time()
        else:
            print("ready", flush=True)
            line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
            run_id = line.strip()
            if not run_id:
                return
            cpu = time.process_time()
            watching = [asyncio.ensure_future(watch_run(c, run_id)) for c in clients]
        results = await asyncio.gather(*watching)
        cpu = time.process_time() - cpu
        for i, (_, rows) in enumerate(results):
            with (args.out / f"{args.index}-{i}.bin").open("wb") as f:
                rows.tofile(f)
        print(json.dumps({"started": [s for s, _ in results], "cpu": cpu}), flush=True)
    finally:
        await asyncio.gather(*(c.close() for c in clients))


def main() -> None:
    options = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    options.add_argument("--runner", required=True)
    options.add_argument("--count", type=int, required=True)
    options.add_argument("--out", type=Path, required=True)
    options.add_argument("--index", type=int, required=True)
    options.add_argument("--watch", choices=["run", "all"], default="run")
    options.add_argument("--workflow", default="")
    options.add_argument("--run-id", default="")
    asyncio.run(subscriber_process(options.parse_args()))


if __name__ == "__main__":
    main()
