"""Run the `stepline` console command as a separate process, as a user would."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
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
    return await (await start_stepline(*args, address=address, env=env)).finish()


class Streaming:
    """A `stepline` process still running: read its output as it comes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []

    async def until(self, predicate: Callable[[str], bool], timeout: float = 60) -> str:
        """Read lines until one satisfies `predicate`; return it."""
        assert self.process.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.process.stdout.readline()
                if not raw:
                    raise AssertionError("stepline ended first:\n" + "".join(self.lines))
                line = raw.decode()
                self.lines.append(line)
                if predicate(line):
                    return line

    async def finish(self, timeout: float = 60) -> Result:
        async with asyncio.timeout(timeout):
            out, err = await self.process.communicate()
        assert self.process.returncode is not None
        return Result(self.process.returncode, "".join(self.lines) + out.decode(), err.decode())

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


async def start_stepline(
    *args: str, address: str = "", env: dict[str, str] | None = None
) -> Streaming:
    """`stepline *args` in the background, its output read with `Streaming`."""
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
    return Streaming(process)
