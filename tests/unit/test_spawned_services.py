"""`spawn` (stepline.testing) on stand-in services: `python -c` programs that print the
ready line, or do not; and how tests/support/processes.py gives services ports."""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path

import pytest

from stepline.testing import spawn
from tests.support.processes import closed_address, on_free_port

SERVES = "print('stand-in listening on 127.0.0.1:4321', flush=True)"


async def test_the_address_comes_from_the_ready_line_and_stop_escalates() -> None:
    ignores_sigterm = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    service = await spawn("-c", f"{ignores_sigterm}{SERVES}; time.sleep(60)")

    assert service.address == "127.0.0.1:4321"
    assert await service.stop(grace=0.2) == -signal.SIGKILL


async def test_a_service_that_exits_before_serving_says_why_from_its_log(tmp_path: Path) -> None:
    crash = "import sys; print('no database here', file=sys.stderr); sys.exit(3)"

    with pytest.raises(RuntimeError, match="crasher exited with 3 before serving:\nno database"):
        await spawn("-c", crash, name="crasher", log=tmp_path / "crasher.log")


async def test_a_silent_service_times_out() -> None:
    with pytest.raises(RuntimeError, match=r"silent did not serve within 0\.2 s"):
        await spawn("-c", "import time; time.sleep(60)", name="silent", timeout=0.2)


async def test_the_metrics_port_comes_from_the_line_before_the_ready_line() -> None:
    says = "print('stand-in metrics on 127.0.0.1:5555'); " + SERVES
    async with await spawn("-c", f"import time; {says}; time.sleep(60)") as service:
        assert (service.address, service.metrics_port) == ("127.0.0.1:4321", 5555)
    async with await spawn("-c", f"import time; {SERVES}; time.sleep(60)") as service:
        assert service.metrics_port is None


async def test_a_port_taken_before_the_service_binds_it_is_picked_again() -> None:
    tried: list[int] = []
    with socket.socket() as thief:

        async def start(port: int) -> str:
            tried.append(port)
            if len(tried) == 1:  # another process binds it first: the start fails
                thief.bind(("127.0.0.1", port))
                thief.listen()
                raise RuntimeError("service exited with 1 before serving")
            return "serving"

        port, started = await on_free_port(start)
    assert (started, len(tried), port) == ("serving", 2, tried[1])
    assert tried[0] != tried[1]


async def test_a_start_that_fails_on_a_free_port_is_not_tried_again() -> None:
    tried: list[int] = []

    async def start(port: int) -> str:
        tried.append(port)
        raise RuntimeError("service exited with 2 before serving")

    with pytest.raises(RuntimeError, match="exited with 2"):
        await on_free_port(start)
    assert len(tried) == 1


async def test_a_closed_address_refuses_connections() -> None:
    host, port = closed_address().rsplit(":", 1)
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(host, int(port))
