"""When the store refuses writes (a full disk, a database another program
holds locked) callers get RESOURCE_EXHAUSTED or UNAVAILABLE with what to do,
the runner goes on serving, and it recovers by itself once the store takes
writes again: a run caught in the middle goes on from its last checkpoint."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from stepline import RunnerClient, SteplineError
from stepline.reasons import Reason
from stepline.testing import Service, start_executor_service, start_runner
from stepline.v1 import events_pb2 as E
from tests.executors.stages import Token
from tests.support.processes import ROOT
from tests.support.runs import stage_loop

STAGES = ROOT / "tests" / "executors" / "stages.py"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs: a disk that fills up. Needs root (mount)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    why = "" if os.geteuid() == 0 else "not running as root"
    if not why:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
            capture_output=True,
            text=True,
        )
        why = done.stderr.strip() if done.returncode else ""
    if why:
        print(f"SKIPPED the full-disk test: cannot mount a small tmpfs ({why})")
        pytest.skip(f"cannot mount a small tmpfs to fill: {why}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@contextlib.asynccontextmanager
async def services(db: Path, log: Path) -> AsyncIterator[tuple[Service, RunnerClient]]:
    executors = await start_executor_service(STAGES, cwd=ROOT, name="stages")
    runner = await start_runner(db, cwd=ROOT, log=log)
    client = RunnerClient(runner.address)
    try:
        await client.register_workflow(stage_loop("chain", [executors.address] * 2))
        yield runner, client
    finally:
        await client.close()
        await runner.kill()
        await executors.kill()


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb") as f:
        chunk = b"\0" * 65536
        with contextlib.suppress(OSError):
            while True:
                f.write(chunk)
                f.flush()
    assert os.statvfs(disk).f_bavail == 0
    return filler


def wait_for_line(log: Path, text: str, deadline: float = 60) -> None:
    """Wait on the runner's log file: it has no other sign of a commit it
    could not make (nothing of it is stored or published). Run in a thread,
    which cannot be cancelled: hence its own deadline."""
    give_up = time.monotonic() + deadline
    while text not in log.read_text(errors="replace"):
        if time.monotonic() > give_up:
            raise AssertionError(f"the runner did not log {text!r} within {deadline:g} s")
        time.sleep(0.05)  # polling the file, not a timed wait


async def test_a_full_disk_is_resource_exhausted_and_passes(
    small_disk: Path, tmp_path: Path
) -> None:
    log = tmp_path / "runner.log"
    async with services(small_disk / "stepline.db", log) as (runner, client):
        # Its first superstep takes 2 s; the disk fills meanwhile.
        caught = await client.start_run("chain", Token(1, 0, 4, delay_ms=2000))
        filler = fill(small_disk)
        await asyncio.to_thread(wait_for_line, log, f"run {caught.run_id}: cannot commit")

        with pytest.raises(SteplineError) as refused:
            await client.start_run("chain", Token(1, 0, 3))
        assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert refused.value.reason == Reason.STORE_FULL
        assert "free disk space" in str(refused.value)
        assert (await client.get_run(caught.run_id)).status == E.RUN_STATUS_RUNNING

        filler.unlink()  # space returns: both go on by themselves
        result = await client.wait(caught.run_id)
        assert len(result.outputs) == 1
        resumed = [e for e in result.events if e.kind == E.EVENT_KIND_RUN_RESUMED]
        assert [e.message for e in resumed] == ["the store takes writes again"]
        assert len((await client.run("chain", Token(1, 0, 3))).outputs) == 1
        assert runner.process.returncode is None


async def test_a_locked_database_is_unavailable_until_released(tmp_path: Path) -> None:
    db = tmp_path / "stepline.db"
    async with services(db, tmp_path / "runner.log") as (_, client):
        done = await client.run("chain", Token(1, 0, 3))
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another program holds the write lock
        try:
            with pytest.raises(SteplineError) as refused:
                await client.start_run("chain", Token(1, 0, 3))  # after the 5 s busy timeout
            assert refused.value.code == grpc.StatusCode.UNAVAILABLE
            assert refused.value.reason == Reason.STORE_UNAVAILABLE
            assert "another program may hold it locked" in str(refused.value)
            assert (await client.get_run(done.run.run_id)).status == E.RUN_STATUS_COMPLETED
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert len((await client.run("chain", Token(1, 0, 3))).outputs) == 1
