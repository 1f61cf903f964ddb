"""What an executor service says when it starts: one line for a factory that
cannot work (no traceback), a warning for state a restart would lose."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from pathlib import Path

from stepline import testing
from tests.support.processes import ROOT

SCRIPT = """
from stepline import Executor, WorkflowContext, handler, run_executors

class Judge(Executor):
    def __init__(self, id: str, target: int) -> None:
        super().__init__(id=id)
        self.target = target

    @handler
    async def judge(self, n: int, ctx: WorkflowContext) -> None: ...

class Tally(Executor):
    def __init__(self) -> None:
        self.total = 0

    @handler
    async def add(self, n: int, ctx: WorkflowContext) -> None:
        self.total += n

run_executors({EXECUTORS})
"""


def script(tmp_path: Path, executors: str) -> Path:
    path = tmp_path / "service.py"
    path.write_text(textwrap.dedent(SCRIPT).replace("{EXECUTORS}", executors))
    return path


async def test_a_factory_that_cannot_work_ends_the_service_in_one_line(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script(tmp_path, '{"judge": Judge}')),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()

    assert process.returncode == 2
    assert stdout == b""
    assert stderr.decode().splitlines() == [
        "stepline executors: executor type 'judge' (Judge): it needs target, which the SDK "
        "cannot supply (it passes only the executor id, as `id` or as the one positional "
        "argument); bind them with functools.partial(Judge, target=...)"
    ]


async def test_a_service_warns_about_state_a_restart_loses(tmp_path: Path) -> None:
    log = tmp_path / "service.log"
    service = await testing.start_executor_service(
        script(tmp_path, '{"tally": Tally, "again": Tally}'), cwd=ROOT, log=log
    )
    await service.stop()

    warned = [line for line in log.read_text().splitlines() if "StateLossWarning" in line]
    assert len(warned) == 1
    assert "executor type 'tally' (Tally) changes instance attributes (total)" in warned[0]
    assert warned[0].endswith("its state is lost when the service restarts")
