"""Run the `stepline` console command as a separate process, as a user would."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from typing import Any

from tests.support.processes import ROOT


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def json_lines(self) -> list[Any]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


async def stepline(*args: str, address: str = "", env: dict[str, str] | None = None) -> Result:
    """`stepline [--address ADDRESS] *args`; its exit code and output."""
    command = [sys.executable, "-m", "stepline.cli"]
    if address:
        command += ["--address", address]
    environment = {**os.environ, "NO_COLOR": "1", **(env or {})}
    environment.pop("COLUMNS", None)
    process = await asyncio.create_subprocess_exec(
        *command,
        *args,
        cwd=ROOT,
        env=environment,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())
