"""`Runners`: runner processes sharing one PostgreSQL database with leases,
a client of each, and what the database says of them (which runner drives
which run). Runner i logs to `log(i)`."""

from __future__ import annotations

import signal
from pathlib import Path

from stepline import RunnerClient
from stepline.testing import Service, start_runner
from tests.support.processes import ROOT
from tests.support.stores import rows


class Runners:
    def __init__(self, store: str, tmp: Path, lease: float = 1.0) -> None:
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
