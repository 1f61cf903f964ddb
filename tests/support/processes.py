"""Start the runner and executor services as real processes on loopback ports.

A service prints `... listening on HOST:PORT` once it serves; we wait for that
line instead of sleeping, and read the port from it (services bind port 0).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

READY = re.compile(rb"listening on (\S+:\d+)")
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Service:
    process: asyncio.subprocess.Process
    address: str
    _drain: asyncio.Task[None] | None = field(default=None, repr=False)

    async def kill(self) -> None:
        """SIGKILL: no chance to flush or say goodbye."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def terminate(self) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await self.process.wait()


async def spawn(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> Service:
    """Run `python *args` and wait until it says where it listens."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(timeout):
            while True:
                line = await process.stdout.readline()
                if not line:
                    raise RuntimeError(f"{args} exited with {await process.wait()} before serving")
                match = READY.search(line)
                if match:
                    break
    except BaseException:
        if process.returncode is None:
            process.kill()
        await process.wait()
        raise
    service = Service(process, match.group(1).decode())
    service._drain = asyncio.create_task(_drain(process.stdout))
    return service


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


async def start_runner(db: Path, port: int = 0, *options: str) -> Service:
    """The runner on `db`; `options` are more command-line flags."""
    return await spawn("-m", "stepline_runner", "--db", str(db), "--port", str(port), *options)


def free_port() -> int:
    """A port nothing listens on right now (for a runner that must come back
    on the same address after a restart)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_executors(script: str, env: dict[str, str] | None = None) -> Service:
    """Start `tests/executors/<script>.py` as an executor service."""
    return await spawn(str(ROOT / "tests" / "executors" / f"{script}.py"), env=env)
