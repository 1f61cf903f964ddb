"""Run Stepline services as real processes, for tests, benchmarks and demos.

A service (the runner, or executors served with `stepline.run_executors`) says
`... listening on HOST:PORT` once it serves; `spawn` waits for that line, never
sleeping, and reads the address from it, so services can bind port 0 (and
from an earlier `... metrics on HOST:PORT` line, the port metrics are served on):

    async with (
        await start_executor_service("my_executors.py") as executors,
        await start_runner(tmp_path / "stepline.db") as runner,
    ):
        ...  # RunnerClient(runner.address); executors.address in the workflow
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import socket
import sys
from asyncio.subprocess import PIPE
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict, Unpack

READY = re.compile(rb"listening on (\S+:\d+)")
"""The line a service prints once it serves; group 1 is its address."""
METRICS = re.compile(rb"metrics on \S+:(\d+)")
"""The line a service prints before READY when it serves metrics; group 1 is their port."""


@dataclass
class Service:
    """A service process and the `HOST:PORT` it serves at; `async with` stops it.
    `metrics_port` is where it serves metrics (None: it said nothing of them),
    so a service can be given metrics port 0."""

    process: asyncio.subprocess.Process
    address: str
    name: str = "service"
    log: Path | None = None
    metrics_port: int | None = None
    _drain: asyncio.Task[None] | None = field(default=None, repr=False)

    async def kill(self) -> None:
        """SIGKILL and wait: no chance to flush or say goodbye."""
        await _send(self.process, signal.SIGKILL)

    async def terminate(self) -> int:
        """SIGTERM and wait, however long it takes; its exit code."""
        return await _send(self.process, signal.SIGTERM)

    async def stop(self, grace: float = 5.0) -> int:
        """SIGTERM, then SIGKILL if it has not exited within `grace` seconds."""
        return await stop(self.process, grace)

    def tail(self, lines: int = 20) -> str:
        """The last `lines` lines of its log ("" without one)."""
        return tail(self.log, lines) if self.log else ""

    async def __aenter__(self) -> Service:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


class SpawnOptions(TypedDict, total=False):
    """How `spawn` runs a service; every option may be left out."""

    env: dict[str, str] | None  # added to this process's environment
    cwd: str | Path | None
    timeout: float  # seconds it may take to say where it listens (default 30)
    name: str | None  # for messages (default: its arguments)
    log: Path | None  # a file its stderr is appended to (default: this stderr)


async def spawn(*args: str, **options: Unpack[SpawnOptions]) -> Service:
    """Run `python *args` and wait until it says where it listens; if it exits
    or times out first, raise RuntimeError (with the end of its log)."""
    name, log = options.get("name") or " ".join(args), options.get("log")
    timeout, env = options.get("timeout", 30), {**os.environ, **(options.get("env") or {})}
    with log.open("ab") if log else contextlib.nullcontext() as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, *args, stdout=PIPE, stderr=stderr, env=env, cwd=options.get("cwd")
        )
    assert process.stdout is not None
    metrics_port = None
    try:
        async with asyncio.timeout(timeout):
            while line := await process.stdout.readline():
                if match := METRICS.search(line):
                    metrics_port = int(match.group(1))
                elif match := READY.search(line):
                    drain = asyncio.create_task(_drain(process.stdout))
                    address = match.group(1).decode()
                    return Service(process, address, name, log, metrics_port, drain)
        problem = f"exited with {await process.wait()} before serving"
    except TimeoutError:
        problem = f"did not serve within {timeout:g} s"
    except BaseException:
        await stop(process)
        raise
    await stop(process)
    raise RuntimeError(f"{name} {problem}" + (f":\n{tail(log)}" if log else ""))


async def start_runner(
    db: str | Path, port: int = 0, *options: str, **kwargs: Unpack[SpawnOptions]
) -> Service:
    """`python -m stepline_runner` on `db`; `options` are more command-line flags."""
    kwargs.setdefault("name", "runner")
    args = ("-m", "stepline_runner", "--db", str(db), "--port", str(port), *options)
    return await spawn(*args, **kwargs)


async def start_executor_service(
    script: str | Path, *args: str, **kwargs: Unpack[SpawnOptions]
) -> Service:
    """`python script *args`, a script that serves executors (`run_executors`)."""
    return await spawn(str(script), *args, **kwargs)


async def stop(process: asyncio.subprocess.Process, grace: float = 5.0) -> int:
    """SIGTERM, then SIGKILL if it has not exited within `grace` s; its exit code."""
    try:
        async with asyncio.timeout(grace):
            return await _send(process, signal.SIGTERM)
    except TimeoutError:
        return await _send(process, signal.SIGKILL)


def free_port() -> int:
    """A loopback port nothing listens on now, for a service that must come
    back at the same address after a restart (any other service binds port 0
    and says where it listens). It lies below the range the kernel hands out
    to outgoing connections, so none of those can take it while the service is
    down (nor connect to itself there, as a client retrying a port of that
    range can). Another process may still bind it before the service's first
    start does: if that start fails while the port is taken, pick another."""
    low = _ephemeral_low()
    for _ in range(200):
        port = random.randrange(max(1024, low - 12000), low)
        with socket.socket() as s, contextlib.suppress(OSError):
            s.bind(("127.0.0.1", port))
            return port
    raise OSError(f"no free port found below {low}")


def _ephemeral_low() -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    return 32768


def tail(path: Path, lines: int = 20) -> str:
    """The last `lines` lines of a text file ("" if it cannot be read)."""
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


async def _send(process: asyncio.subprocess.Process, signum: int) -> int:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):  # it died, not reaped yet
            process.send_signal(signum)
    return await process.wait()


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass
