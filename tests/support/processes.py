"""Start the runner and executor services as real processes on loopback ports,
with `stepline.testing` (which waits for each service's `listening on` line)."""

from __future__ import annotations

from pathlib import Path

from stepline import testing
from stepline.testing import Service, free_port

__all__ = ["ROOT", "Service", "free_port", "spawn", "start_executors", "start_runner"]

ROOT = Path(__file__).resolve().parents[2]


async def spawn(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> Service:
    """Run `python *args` in the repository and wait until it says where it listens."""
    return await testing.spawn(*args, env=env, cwd=ROOT, timeout=timeout)


async def start_runner(db: Path, port: int = 0, *options: str) -> Service:
    """The runner on `db`; `options` are more command-line flags."""
    return await testing.start_runner(db, port, *options, cwd=ROOT)


async def start_executors(script: str, env: dict[str, str] | None = None) -> Service:
    """Start `tests/executors/<script>.py` as an executor service."""
    path = ROOT / "tests" / "executors" / f"{script}.py"
    return await testing.start_executor_service(path, env=env, cwd=ROOT, name=script)
