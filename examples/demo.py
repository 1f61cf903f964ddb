"""Stepline's main job, end to end, every part in its own process.

1. Start a runner on a SQLite file, and two executor services hosting a
   running word count (examples/demo_executors.py).
2. Register the workflow, start a run and print its events as they arrive.
3. After a few supersteps, SIGKILL the runner: no goodbye, no flush.
4. Start a new runner on the same file: it resumes the run from its latest
   checkpoint by itself; the events go on from where the printout stopped.
5. Run the same input again without interruption, and check that both runs
   yielded the same outputs and left the executors in the same states.
6. Show the resumed run with the `stepline` command: `stepline run get`, and
   `stepline checkpoint diff` from the checkpoint it resumed from to its last.

Run it with `scripts/demo`. It exits non-zero if anything fails or differs.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stepline import RunnerClient, SteplineError, WorkflowBuilder, payloads
from stepline.testing import Service, start_executor_service, start_runner
from stepline.v1 import events_pb2 as E
from stepline.v1 import workflow_pb2

EXECUTORS = Path(__file__).resolve().parent / "demo_executors.py"
WORKFLOW = "word-count"
KILL_AFTER_SUPERSTEP = 6  # of 16

LINES = [
    "The runner drives the graph one superstep at a time,",
    "and after each superstep every executor hands over its state.",
    "The runner writes the state to one checkpoint in one transaction.",
    "Kill the runner at any moment: the checkpoint is still there,",
    "and the run goes on from the checkpoint as if nothing had happened.",
]
# The run's input. The client need not import the executors' classes: the type
# name and the JSON are the whole contract between them.
DOCUMENT = payloads.encode({"title": "Checkpoints", "lines": LINES}, type_name="demo.Document")


def word_count_workflow(text_address: str, count_address: str) -> workflow_pb2.WorkflowDefinition:
    """reader -> tokenizer -> counter -> reader: a loop across two services."""
    return (
        WorkflowBuilder(WORKFLOW)
        .add_executor("reader", text_address)
        .add_executor("tokenizer", text_address)
        .add_executor("counter", count_address)
        .add_chain(["reader", "tokenizer", "counter", "reader"])
        .set_start_executor("reader")
        .build()
    )


# -- processes


class Services:
    """Starts the demo's processes and makes sure none outlives the demo."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[Service] = []

    async def start_runner(self, db: Path) -> Service:
        return self._started(await start_runner(db, log=self.workdir / "runner.log"))

    async def start_executors(self, service: str) -> Service:
        log = self.workdir / f"executors-{service}.log"
        name = f"executors {service}"
        return self._started(await start_executor_service(EXECUTORS, service, name=name, log=log))

    def _started(self, service: Service) -> Service:
        self.started.append(service)
        pid = service.process.pid
        print(f"[start] {service.name:<15} pid {pid:<7} at {service.address}")
        return service

    async def kill(self, service: Service) -> None:
        """SIGKILL: the process gets no chance to clean up or flush anything."""
        await service.kill()
        print(f"[kill]  {service.name:<15} pid {service.process.pid:<7} SIGKILL")

    async def stop_all(self) -> None:
        """SIGTERM whatever still runs, then SIGKILL what has not exited in 5 s."""
        await asyncio.gather(*(service.stop(grace=5) for service in self.started))


# -- events


@dataclass
class Transcript:
    """What the demo has printed of one run, across runner restarts."""

    last_sequence: int = 0
    outputs: list[Any] = field(default_factory=list)

    async def follow(self, client: RunnerClient, run_id: str, until_superstep: int = 0) -> None:
        """Print the events after the last one printed, until the run ends (or,
        if given, until superstep `until_superstep` is committed)."""
        async for event in client.watch(run_id, after=self.last_sequence):
            # Sequences go 1, 2, 3... without gaps: nothing shown twice, nothing missed.
            if event.sequence != self.last_sequence + 1:
                raise RuntimeError(f"expected event {self.last_sequence + 1}, not {event.sequence}")
            self.last_sequence = event.sequence
            if event.kind == E.EVENT_KIND_OUTPUT:
                self.outputs.append(payloads.json_value(event.data))
            print(describe(event))
            completed = event.kind == E.EVENT_KIND_SUPERSTEP_COMPLETED
            if completed and event.superstep == until_superstep:
                return


HEADER = f"{'seq':>5}  {'event':<20} {'step':>4}  {'executor':<10} detail"


def describe(event: E.Event) -> str:
    """One line per event: sequence, kind, superstep, executor, short detail."""
    kind = E.EventKind.Name(event.kind).removeprefix("EVENT_KIND_").lower().replace("_", " ")
    if event.kind == E.EVENT_KIND_STATUS_CHANGED:
        detail = _status(event.status)
    elif event.error.type:
        detail = f"{event.error.type}: {event.error.message}"
    elif event.kind == E.EVENT_KIND_RUN_STARTED:
        detail = f"input {event.data.type_name}"
    elif event.kind in (E.EVENT_KIND_OUTPUT, E.EVENT_KIND_CUSTOM):
        detail = f"{event.name} {_short(payloads.json_value(event.data))}"
    elif event.checkpoint_id:
        detail = f"checkpoint {event.checkpoint_id[:8]} {event.message}"
    else:
        detail = event.message
    step, executor = event.superstep, event.executor_id
    return f"{event.sequence:>5}  {kind:<20} {step:>4}  {executor:<10} {detail.strip()}".rstrip()


def _status(status: E.RunStatus) -> str:
    return E.RunStatus.Name(status).removeprefix("RUN_STATUS_")


def _short(value: Any, width: int = 70) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= width else text[: width - 3] + "..."


# -- the demo


@dataclass
class Outcome:
    """How a run ended: what the resumed and the uninterrupted run must share."""

    status: str
    outputs: list[Any]
    states: dict[str, Any]  # executor id -> its state at the run's last checkpoint


async def outcome(client: RunnerClient, run_id: str, outputs: list[Any]) -> Outcome:
    run = await client.get_run(run_id)
    checkpoint = await client.get_checkpoint(run.latest_checkpoint_id, include_content=True)
    states = checkpoint.content.executor_states
    return Outcome(
        _status(run.status), outputs, {x: payloads.json_value(s) for x, s in states.items()}
    )


async def demo(services: Services, db: Path) -> bool:
    text = await services.start_executors("text")
    count = await services.start_executors("count")
    runner = await services.start_runner(db)
    transcript = Transcript()

    async with RunnerClient(runner.address) as client:
        await client.register_workflow(word_count_workflow(text.address, count.address))
        run_id = (await client.start_run(WORKFLOW, DOCUMENT)).run_id
        print(f"[run]   run {run_id} started; its events, live:\n{HEADER}")
        await transcript.follow(client, run_id, until_superstep=KILL_AFTER_SUPERSTEP)
    # The run goes on without us watching, so the kill lands mid-superstep.
    await services.kill(runner)

    # A new runner on the same file finds the run unfinished and resumes it by
    # itself: it restores every executor to the latest checkpoint (the
    # superstep that was under way runs again), and the log goes on after it.
    runner = await services.start_runner(db)
    async with RunnerClient(runner.address) as client:
        print("[run]   a new runner on the same file resumes the run by itself")
        await transcript.follow(client, run_id)
        resumed = await outcome(client, run_id, transcript.outputs)

        print("[run]   the same input again, uninterrupted...")
        result = await client.run(WORKFLOW, DOCUMENT, output_type=dict)
        reference = await outcome(client, result.run.run_id, result.outputs)
        matches = compare(resumed, reference)
        await show_with_cli(client, run_id)
    return matches


async def show_with_cli(client: RunnerClient, run_id: str) -> None:
    """The resumed run as the `stepline` command shows it: the run, and what
    changed from the checkpoint the restarted runner resumed from to its last."""
    checkpoints = [c async for c in client.list_checkpoints(run_id)]
    resumed_from = max(
        (c for c in checkpoints if c.superstep <= KILL_AFTER_SUPERSTEP), key=lambda c: c.superstep
    )
    commands = [
        ["run", "get", run_id],
        ["checkpoint", "diff", resumed_from.checkpoint_id, checkpoints[-1].checkpoint_id],
    ]
    env = {**os.environ, "STEPLINE_ADDRESS": client.address}
    for args in commands:
        print(f"[cli]   $ stepline {' '.join(args)}", flush=True)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "stepline.cli", *args, env=env
        )
        if await process.wait() != 0:
            raise RuntimeError(f"stepline {args[0]} {args[1]} exited with {process.returncode}")


def compare(resumed: Outcome, reference: Outcome) -> bool:
    """Print and check that the resumed run ended as the uninterrupted one did."""
    print("[check] resumed run vs uninterrupted run:")
    checks: dict[str, tuple[Any, Any]] = {"status": (resumed.status, reference.status)}
    checks[f"{len(resumed.outputs)} outputs"] = (resumed.outputs, reference.outputs)
    for x in sorted(resumed.states.keys() | reference.states.keys()):
        checks[f"state of {x}"] = (resumed.states.get(x), reference.states.get(x))
    for name, (mine, theirs) in checks.items():
        if mine == theirs:
            print(f"        {name:<19} same  {_short(mine, 60)}")
        else:
            print(f"        {name:<19} DIFFERENT: {_difference(mine, theirs)}")
    if resumed.status == "COMPLETED" and all(a == b for a, b in checks.values()):
        print(f"[done]  the resumed run matches. Its result: {_short(resumed.outputs[-1], 200)}")
        return True
    print("[fail]  the resumed run does not match the uninterrupted one")
    return False


def _difference(mine: Any, theirs: Any, path: str = "") -> str:
    """Where two JSON values first differ: "path: resumed vs uninterrupted"."""
    if isinstance(mine, list) and isinstance(theirs, list) and len(mine) == len(theirs):
        i = next(i for i, (a, b) in enumerate(zip(mine, theirs, strict=True)) if a != b)
        return _difference(mine[i], theirs[i], f"{path}[{i}]")
    if isinstance(mine, dict) and isinstance(theirs, dict):
        key = next(k for k in sorted(mine.keys() | theirs.keys()) if mine.get(k) != theirs.get(k))
        return _difference(mine.get(key), theirs.get(key), f"{path}[{key!r}]")
    return f"{path or 'value'}: {_short(mine, 40)} vs {_short(theirs, 40)}"


async def main() -> int:
    # SIGTERM, like Ctrl-C, cancels the demo, so the cleanup below still runs.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    with tempfile.TemporaryDirectory(prefix="stepline-demo-") as workdir:
        services = Services(Path(workdir))
        try:
            return 0 if await demo(services, Path(workdir) / "stepline.db") else 1
        except (SteplineError, RuntimeError) as exc:
            print(f"[fail]  {type(exc).__name__}: {exc}")
            for service in services.started:  # their stderr may say why
                print(f"--- {service.name}'s log:\n{service.tail(15) or '(empty)'}")
            return 1
        finally:
            await services.stop_all()


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("\n[stop]  interrupted; the processes the demo started are stopped")
        sys.exit(130)
