"""`Runners`: runner processes sharing one PostgreSQL database with leases,
a client of each, and what the database says of them (which runner drives
which run). Runner i logs to `log(i)`.

`executors_fixture` and `runners_fixture` make the pytest fixtures the
cluster e2e modules share: one executor service for the module, and a
fresh set of runners (of this `Runners` or tests/support/leased.py's) on a
new database for each test."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Protocol, TypeVar

import pytest_asyncio

from stepline import RunnerClient
from stepline.testing import Service, start_runner
from tests.support.leased import LEASE
from tests.support.postgres import TemporaryPostgres
from tests.support.processes import ROOT, start_executors
from tests.support.stores import rows


class Runners:
    def __init__(self, store: str, tmp: Path, lease: float = LEASE) -> None:
        self.store = store
        self.tmp = tmp
        self.lease = lease
        self.services: list[Service] = []
        self.clients: list[RunnerClient] = []

    def log(self, i: int) -> Path:
        return self.tmp / f"runner-{i}.log"

    async def start(self, *options: str) -> RunnerClient:
        log = self.log(len(self.services))
        service = await start_runner(
            self.store, 0, "--lease-seconds", str(self.lease), *options, log=log, cwd=ROOT
        )
        self.services.append(service)
        client = RunnerClient(service.address)
        self.clients.append(client)
        return client

    def owners(self, run_ids: list[str]) -> dict[str, tuple[str, int]]:
        """Run id -> (the runner holding its lease, its epoch), as stored."""
        ids = ", ".join(f"'{r}'" for r in run_ids)
        found = rows(self.store, f"SELECT run_id, owner, epoch FROM runs WHERE run_id IN ({ids})")
        return {str(r): (str(owner), int(epoch)) for r, owner, epoch in found}

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        for service in self.services:
            if service.process.returncode is None:
                service.process.send_signal(signal.SIGCONT)
                await service.kill()


class Closing(Protocol):
    async def close(self) -> None: ...


R = TypeVar("R", bound=Closing)


def executors_fixture(script: str) -> Callable[..., AsyncIterator[str]]:
    """A module-scoped fixture yielding the address of one executor service
    running `script` (mark the module `pytest.mark.asyncio(loop_scope="module")`)."""

    @pytest_asyncio.fixture(scope="module", loop_scope="module")
    async def fixture() -> AsyncIterator[str]:
        service = await start_executors(script)
        try:
            yield service.address
        finally:
            await service.kill()

    return fixture


def runners_fixture(make: Callable[[str, Path], R]) -> Callable[..., AsyncIterator[R]]:
    """A fixture yielding `make(database, tmp_path)` on a new database of the
    session's PostgreSQL server, closed after the test."""

    @pytest_asyncio.fixture(loop_scope="module")
    async def fixture(postgres_server: TemporaryPostgres, tmp_path: Path) -> AsyncIterator[R]:
        shared = make(postgres_server.new_database(), tmp_path)
        try:
            yield shared
        finally:
            await shared.close()

    return fixture
