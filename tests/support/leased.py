"""`Runners`: runner processes sharing one PostgreSQL database (with leases),
clients of each, and what the database says about a run's owner."""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

import psycopg

from stepline import RunnerClient, RunResult, payloads
from stepline.testing import Service, start_runner
from tests.support.processes import ROOT
from tests.support.waiting import until

# Long enough that a runner on a loaded machine renews its leases in time (a
# round every third of it): at 1 s, runners at load 12 missed renewals, lost
# the runs they drove and took them back at a later epoch (and the leader's
# duty bounced between them). A killed or paused runner's runs are taken over
# once it runs out.
LEASE = 3.0


async def final(client: RunnerClient, result: RunResult) -> tuple[list[Any], dict[str, Any]]:
    """What a run ended with: its outputs (as JSON values) and its executors' last states."""
    states = await client.get_checkpoint_states(result.run.latest_checkpoint_id)
    return [payloads.json_value(p) for p in result.outputs], states


class Runners:
    """Runner processes sharing one database, and clients of each; runner i
    logs to `log(i)`."""

    def __init__(self, store: str, tmp: Path) -> None:
        self.store = store
        self.tmp = tmp
        self.services: list[Service] = []
        self.clients: list[RunnerClient] = []

    def log(self, i: int) -> Path:
        return self.tmp / f"runner-{i}.log"

    async def start(self, lease: float = LEASE, *options: str) -> RunnerClient:
        log = self.log(len(self.services))
        service = await start_runner(
            self.store, 0, "--lease-seconds", str(lease), *options, log=log, cwd=ROOT
        )
        self.services.append(service)
        client = RunnerClient(service.address)
        self.clients.append(client)
        return client

    def runner_id(self, i: int) -> str:
        """Runner i's id, as the runs it drives name their owner (its log says it)."""
        found = re.search(r"sharing the database as runner (\w+)", self.log(i).read_text())
        assert found, f"runner {i} logged no id"
        return found[1]

    def stored(self, run_id: str) -> tuple[int, str]:
        """The run's epoch and owner, read from the database."""
        with psycopg.connect(self.store) as db:
            row = db.execute(
                "SELECT epoch, owner FROM runs WHERE run_id = %s", (run_id,)
            ).fetchone()
        assert row is not None
        return int(row[0]), str(row[1])

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        for service in self.services:
            if service.process.returncode is None:
                service.process.send_signal(signal.SIGCONT)
                await service.kill()


async def logged(path: Path, *texts: str, deadline: float = 60) -> None:
    """Return once one of `texts` is in the log at `path` (another process
    writes it: there is nothing to await but the file)."""

    def found() -> bool:
        said = path.read_text(errors="replace")
        return any(text in said for text in texts)

    await until(found, f"{path.name} saying one of {texts}", deadline)
