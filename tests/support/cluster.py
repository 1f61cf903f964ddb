"""`Cluster`: a runner on a SQLite file (or on `store`, a PostgreSQL URL),
executor services running scripts from tests/executors, and clients, all real
processes on loopback ports that a test can kill (SIGKILL) and start again.

    cluster = await Cluster.start(tmp_path, "stages", "stages")
    client = cluster.client()
    await client.register_workflow(stage_loop("w", cluster.addresses))
    await cluster.kill_all()      # no goodbyes
    await cluster.start_all()     # same file; new ports unless fixed_ports

An executor service is named by its script in tests/executors ("stages"), or
by a path from the repository root ("examples/demo_executors.py"), with the
script's arguments after it ("af_style front").

`cluster_fixture` makes a pytest fixture of one, per test or per module.
Each executor process logs its checkpoint saves and restores (executors that
honour STEPLINE_TEST_LOG) to `<tmp>/<name>-<incarnation>.jsonl`; `log` reads it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
import pytest_asyncio

from stepline import RunnerClient
from stepline.testing import start_executor_service
from tests.support.processes import ROOT, Service, on_free_port, start_runner

__all__ = ["Cluster", "ExecutorProcess", "cluster_fixture"]


@dataclass
class ExecutorProcess:
    """One executor service: a script (and its arguments), at most one process
    at a time; `incarnation` counts the processes started so far."""

    script: str  # as given to Cluster.start: "stages", "af_style front", "examples/x.py"
    name: str
    port: int = 0  # 0: a new port for each process (unless the cluster's are fixed)
    service: Service | None = None
    incarnation: int = 0

    @property
    def address(self) -> str:
        if self.service is None:
            raise RuntimeError(f"executor service {self.name} is not running")
        return self.service.address


@dataclass
class Cluster:
    """A runner on `db` and the executor services, with the clients made by
    `client()`; `close()` closes the clients and kills every process."""

    tmp: Path
    executors: list[ExecutorProcess]
    runner_options: tuple[str, ...] = ()
    runner_port: int = 0  # 0: a new port for each runner process (unless fixed)
    # Each service's first process takes a free port, and every later one that port.
    fixed_ports: bool = False
    runner_service: Service | None = None
    clients: list[RunnerClient] = field(default_factory=list)
    # Added to every executor process's environment (STEPLINE_EXECUTOR_*, say).
    executor_env: dict[str, str] = field(default_factory=dict)
    store: str = ""  # a postgresql:// URL; "": the SQLite file `tmp/stepline.db`

    @classmethod
    async def start(
        cls,
        tmp: Path,
        *scripts: str,
        runner_options: Sequence[str] = (),
        fixed_ports: bool = False,
        runner: bool = True,
        executor_env: dict[str, str] | None = None,
        store: str = "",
    ) -> Cluster:
        """Start one executor service per script (in order), then the runner
        on `tmp/stepline.db` (unless `runner` is false). With `fixed_ports`
        every service comes back at the same address after a restart."""
        names = [
            s if scripts.count(s) == 1 else f"{s}{scripts[:i].count(s)}"
            for i, s in enumerate(scripts)
        ]
        cluster = cls(
            tmp,
            [ExecutorProcess(script, name) for script, name in zip(scripts, names, strict=True)],
            tuple(runner_options),
            fixed_ports=fixed_ports,
            executor_env=dict(executor_env or {}),
            store=store,
        )
        try:
            for i in range(len(scripts)):
                await cluster.start_executor(i)
            if runner:
                await cluster.start_runner()
        except BaseException:
            await cluster.close()
            raise
        return cluster

    @property
    def db(self) -> Path:
        """The SQLite file (`stored_run` and `dump` read it)."""
        return self.tmp / "stepline.db"

    @property
    def runner(self) -> Service:
        if self.runner_service is None:
            raise RuntimeError("the runner is not running")
        return self.runner_service

    @property
    def addresses(self) -> list[str]:
        """Every executor service's address, in the order they were given."""
        return [e.address for e in self.executors]

    def client(self) -> RunnerClient:
        """A client of the current runner, closed with the cluster."""
        client = RunnerClient(self.runner.address)
        self.clients.append(client)
        return client

    async def start_runner(self) -> Service:
        """Start the runner (after a kill, on the same file)."""
        if self.runner_service is not None:
            raise RuntimeError("the runner is already running")

        async def start(port: int) -> Service:
            return await start_runner(self.store or self.db, port, *self.runner_options)

        if self.fixed_ports and not self.runner_port:
            self.runner_port, service = await on_free_port(start)
        else:
            service = await start(self.runner_port)
        self.runner_service = service
        return service

    async def kill_runner(self) -> None:
        if self.runner_service is not None:
            await self.runner_service.kill()
            self.runner_service = None

    async def restart_runner(self) -> Service:
        """SIGKILL the runner and start a new one on the same file."""
        await self.kill_runner()
        return await self.start_runner()

    async def start_executor(self, i: int) -> Service:
        executor = self.executors[i]
        if executor.service is not None:
            raise RuntimeError(f"executor service {executor.name} is already running")
        executor.incarnation += 1
        env = {
            **self.executor_env,
            "STEPLINE_TEST_LOG": str(self.log_path(executor.name, executor.incarnation)),
        }
        script, *args = executor.script.split()
        path = (
            ROOT / script
            if script.endswith(".py")
            else ROOT / "tests" / "executors" / f"{script}.py"
        )

        async def start(port: int) -> Service:
            port_env = {"STEPLINE_PORT": str(port)} if port else {}
            return await start_executor_service(
                path, *args, env={**env, **port_env}, cwd=ROOT, name=executor.name
            )

        if self.fixed_ports and not executor.port:
            executor.port, service = await on_free_port(start)
        else:
            service = await start(executor.port)
        executor.service = service
        return service

    async def kill_executor(self, i: int) -> None:
        executor = self.executors[i]
        if executor.service is not None:
            await executor.service.kill()
            executor.service = None

    async def restart_executor(self, i: int) -> Service:
        await self.kill_executor(i)
        return await self.start_executor(i)

    async def kill_all(self) -> None:
        """SIGKILL the runner and every executor service."""
        await self.kill_runner()
        for i in range(len(self.executors)):
            await self.kill_executor(i)

    async def start_all(self) -> None:
        """Start what is not running: executor services first, then the runner."""
        for i, executor in enumerate(self.executors):
            if executor.service is None:
                await self.start_executor(i)
        if self.runner_service is None:
            await self.start_runner()

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        self.clients.clear()
        await self.kill_all()

    def log_path(self, name: str, incarnation: int) -> Path:
        return self.tmp / f"{name}-{incarnation}.jsonl"

    def log(self, name: str, incarnation: int = 1) -> list[dict[str, Any]]:
        """The save/restore lines one executor process logged ([] if none)."""
        path = self.log_path(name, incarnation)
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def stored_run(self, run_id: str) -> tuple[int, str]:
        """The run's superstep and latest checkpoint as the database has them
        (read while the runner is down)."""
        with sqlite3.connect(self.db) as db:
            row = db.execute(
                "SELECT superstep, latest_checkpoint_id FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
        return int(row[0]), str(row[1])

    def dump(self) -> list[str]:
        """The whole database as SQL statements, to compare before and after."""
        with sqlite3.connect(self.db) as db:
            return list(db.iterdump())


def _name(script: str) -> str:
    """ "af_style front" -> "af_style-front"; "examples/demo_executors.py text" ->
    "demo_executors-text"."""
    first, *args = script.split()
    return "-".join([Path(first).stem, *args])


def cluster_fixture(
    *scripts: str,
    scope: Literal["function", "module"] = "function",
    runner_options: Sequence[str] = (),
    fixed_ports: bool = False,
    runner: bool = True,
) -> Callable[..., AsyncIterator[Cluster]]:
    """A fixture yielding `Cluster.start(tmp, *scripts, ...)`, closed after the
    test or, with scope="module", after the module's last test (mark that
    module `pytest.mark.asyncio(loop_scope="module")`)."""

    @pytest_asyncio.fixture(scope=scope, loop_scope=scope)
    async def fixture(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
        tmp = tmp_path_factory.mktemp("cluster")
        cluster = await Cluster.start(
            tmp, *scripts, runner_options=runner_options, fixed_ports=fixed_ports, runner=runner
        )
        try:
            yield cluster
        finally:
            await cluster.close()

    return fixture
