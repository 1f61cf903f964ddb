"""Start the runner and executor services as real processes on loopback ports,
with `stepline.testing` (which waits for each service's `listening on` line).

Ports: a service binds port 0 and says where it listens (`Service.address`,
`Service.metrics_port`), never a port picked for it beforehand, except one
that must come back at the same address after a restart: `on_free_port`
starts it on a `free_port()`, and picks again when another process took that
port first. `closed_address()` is an address where connections are refused."""

from __future__ import annotations

import asyncio
import shutil
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from stepline import testing
from stepline.testing import Service, free_port

__all__ = [
    "ROOT",
    "Service",
    "closed_address",
    "free_port",
    "on_free_port",
    "refused_start",
    "require_node",
    "spawn",
    "start_executors",
    "start_runner",
]

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")
PORT_TRIES = 5
_held: list[socket.socket] = []


async def on_free_port(start: Callable[[int], Awaitable[T]]) -> tuple[int, T]:
    """`start(port)` on a `free_port()`, for a service that must come back on
    the same port: the port and what `start` returned. Another process may
    bind the port between the pick and the service's bind; when `start` fails
    and the port is taken, another is picked. Any other failure is raised."""
    for _ in range(PORT_TRIES - 1):
        port = free_port()
        try:
            return port, await start(port)
        except RuntimeError:
            if not _taken(port):
                raise
    port = free_port()
    return port, await start(port)


def _taken(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def closed_address() -> str:
    """A loopback `HOST:PORT` that refuses connections for as long as the test
    process lives: a socket bound there (and never listening) holds the port,
    so no service can come to listen on it."""
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    _held.append(held)
    return f"127.0.0.1:{held.getsockname()[1]}"


async def spawn(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> Service:
    """Run `python *args` in the repository and wait until it says where it listens."""
    return await testing.spawn(*args, env=env, cwd=ROOT, timeout=timeout)


async def start_runner(db: str | Path, port: int = 0, *options: str) -> Service:
    """The runner on `db` (a SQLite file or a postgresql:// URL); `options`
    are more command-line flags."""
    return await testing.start_runner(db, port, *options, cwd=ROOT)


async def start_executors(script: str, env: dict[str, str] | None = None) -> Service:
    """Start `tests/executors/<script>.py` as an executor service."""
    path = ROOT / "tests" / "executors" / f"{script}.py"
    return await testing.start_executor_service(path, env=env, cwd=ROOT, name=script)


async def refused_start(*args: str) -> tuple[int | None, bytes]:
    """The runner started with `args`, expected to refuse: its exit code and
    standard error. Killed if it went on serving, so nothing is left behind."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "stepline_runner", *args, stderr=asyncio.subprocess.PIPE, cwd=ROOT
    )
    try:
        async with asyncio.timeout(30):
            _, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return process.returncode, stderr


NODE_SERVICE = ROOT / "examples" / "node-executor"


def require_node() -> None:
    """Fail (never skip) the test, saying what to install, without Node.js or
    the Node executor's dependencies."""
    if shutil.which("node") is None:
        pytest.fail(
            "node is not on PATH: the polyglot tests need Node.js 20 to run the Node executor "
            "service (examples/node-executor); install it, then run scripts/test"
        )
    if not (NODE_SERVICE / "node_modules" / "@grpc" / "grpc-js").is_dir():
        pytest.fail(
            "examples/node-executor/node_modules is missing: run `npm ci` there "
            "(scripts/test does it when node and npm are on PATH)"
        )
