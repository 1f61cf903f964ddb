"""`InProcessRunner`: the runner engine on a real store (a SQLite file, or a
PostgreSQL database by its postgresql:// URL), driving
executors served in this process by `InProcessExecutors`; no gRPC at all."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

from stepline import payloads
from stepline.host import ExecutorHost
from stepline.serve import Executors
from stepline.v1 import events_pb2, runner_pb2
from stepline_runner.engine.recovery import RetryPolicy
from stepline_runner.engine.runner import Runner
from stepline_runner.store import Store
from stepline_runner.store.opening import open_store

from ._executors import InProcessExecutors

FAST_RETRY = RetryPolicy(attempts=4, initial_backoff=0.001)
"""Retries of unreachable executors a test need not wait for."""


class InProcessRunner:
    """A `Runner` (the engine behind the gRPC service) with in-process executors.

        async with await InProcessRunner.open(tmp_path / "stepline.db") as env:
            env.host("svc", {"upper": Upper})
            await env.runner.register_workflow(definition)  # endpoints: "svc"
            events = await env.run("my-workflow", "hello")
            assert outputs(events) == ["HELLO"]

    `runner` is the engine itself (its calls raise engine errors such as
    `stepline_runner.engine.errors.NotFound`, not gRPC statuses); `executors`
    the `InProcessExecutors` it calls.
    """

    def __init__(self, store: Store, retry: RetryPolicy = FAST_RETRY) -> None:
        self.store = store
        self.executors = InProcessExecutors()
        self.runner = Runner(store, self.executors, retry=retry)

    @classmethod
    async def open(cls, db: str | Path, retry: RetryPolicy = FAST_RETRY) -> Self:
        """A runner on the store at `db`, a SQLite file (created if missing) or a
        postgresql:// URL; no executors yet."""
        return cls(await open_store(db), retry)

    def host(self, endpoint: str, types: Executors) -> ExecutorHost:
        """Serve executor types at `endpoint`, as `run_executors` would."""
        return self.executors.add(endpoint, types)

    async def run(self, workflow_id: str, value: Any, run_id: str = "") -> list[events_pb2.Event]:
        """Start a run with `value` as its input; every event until it ends."""
        run = await self.runner.start_run(workflow_id, payloads.encode(value), run_id)
        driver = self.runner.runs.task(run.run_id)
        events = await self.events(run.run_id)
        if driver is not None:
            await driver  # its clean-up (EndRun) follows the terminal event
        return events

    async def events(self, run_id: str, after_sequence: int = 0) -> list[events_pb2.Event]:
        """The run's events after `after_sequence` until it ends, as a real
        runner's `WatchRun` sends them: to its last end (a resume goes on past
        an earlier one); a run that waits for input is followed on."""
        return [e async for b in self.runner.watch(run_id, after_sequence) for e in b]

    async def get_run(self, run_id: str) -> runner_pb2.Run:
        return await self.runner.get_run(run_id)

    async def close(self) -> None:
        """Stop the runner's runs and close its database."""
        await self.runner.close()
        await self.store.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def of_kind(
    events: Sequence[events_pb2.Event], kind: events_pb2.EventKind
) -> list[events_pb2.Event]:
    """The events of one kind, in order."""
    return [e for e in events if e.kind == kind]


def outputs(events: Sequence[events_pb2.Event]) -> list[Any]:
    """The values the run yielded as outputs, decoded from JSON."""
    return [payloads.json_value(e.data) for e in of_kind(events, events_pb2.EVENT_KIND_OUTPUT)]
