"""`spawn` (stepline.testing) on stand-in services: `python -c` programs that print the
ready line, or do not."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from stepline.testing import spawn

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
