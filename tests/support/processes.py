"""Start the runner and executor services as real processes on loopback ports,
with `stepline.testing` (which waits for each service's `listening on` line)."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

import pytest

from stepline import testing
from stepline.testing import Service, free_port

__all__ = [
    "ROOT",
    "Service",
    "free_port",
    "refused_start",
    "require_node",
    "spawn",
    "start_executors",
    "start_runner",
]

ROOT = Path(__file__).resolve().parents[2]


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
