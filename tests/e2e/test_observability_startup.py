"""Observability settings that cannot work stop the runner at start-up with
one line saying why (exit code 2), before it serves anything."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

from tests.support.processes import ROOT


async def runner_exit(tmp: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stepline_runner",
        "--db",
        str(tmp / "stepline.db"),
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, err.decode()


async def test_an_unknown_trace_exporter_is_refused(tmp_path: Path) -> None:
    code, err = await runner_exit(tmp_path, env={"OTEL_TRACES_EXPORTER": "zipkin"})
    assert code == 2
    assert "OTEL_TRACES_EXPORTER names 'zipkin'" in err
    assert len(err.splitlines()) == 1


async def test_a_taken_metrics_port_is_refused(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = await runner_exit(tmp_path, "--metrics-port", str(port))
    assert code == 2
    assert f"cannot serve metrics on 127.0.0.1:{port}" in err


async def test_a_metrics_port_out_of_range_is_refused(tmp_path: Path) -> None:
    code, err = await runner_exit(tmp_path, "--metrics-port", "70000")
    assert code == 2
    assert "--metrics-port must be between 0 and 65535" in err


async def test_an_executor_service_refuses_a_bad_metrics_port() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "tests" / "executors" / "observed.py"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "STEPLINE_METRICS_PORT": "nine" * 50},
    )
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert "STEPLINE_METRICS_PORT must be a port number" in err.decode()
    assert len(err) < 200
