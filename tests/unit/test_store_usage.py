"""`read_usage`: what a store holds, read from outside the runner, on SQLite
and PostgreSQL alike; and `stepline-runner usage`, which prints it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from stepline.testing import InProcessRunner
from stepline_runner.store.opening import shown
from stepline_runner.store.usage import CHECKPOINT_TABLES, read_usage
from tests.support.processes import ROOT
from tests.support.stores import harness_on_both_stores
from tests.unit.plateau import Plateau, plateau_loop

__all__ = ["harness_on_both_stores"]  # every test here runs on SQLite and PostgreSQL


async def test_usage_counts_the_rows_and_state_bytes_a_run_left(
    harness: InProcessRunner, store_location: str | Path
) -> None:
    empty = read_usage(store_location)
    harness.host("svc", {"plateau": Plateau})
    await harness.runner.register_workflow(plateau_loop())
    events = await harness.run("w", 0)
    run = await harness.get_run(events[0].run_id)

    usage = read_usage(store_location)

    assert empty.last_superstep == 0 and empty.state_bytes == 0
    assert usage.last_superstep == run.superstep == 9
    assert usage.rows["checkpoints"] == 10  # superstep 0 to 9
    assert usage.rows["events"] == len(events)
    # Plateau's states are levels 0 to 3, each stored once however often saved.
    assert usage.state_bytes == 4 * len(b'{"level":0}')
    assert set(CHECKPOINT_TABLES) <= set(usage.rows)
    assert sum(usage.table_bytes.values()) + sum(usage.index_bytes.values()) <= usage.db_bytes
    assert 0 < usage.record_bytes["events"] <= usage.table_bytes["events"]

    # The command prints the same figures, never a password.
    printed = usage_command(str(store_location), "--json")
    assert printed.returncode == 0, printed.stderr
    report = json.loads(printed.stdout)
    assert report["rows"] == usage.rows and report["state_bytes"] == usage.state_bytes
    assert report["store"] == shown(store_location)
    table = usage_command(str(store_location)).stdout.splitlines()
    assert any(line.split()[:2] == ["events", str(len(events))] for line in table)


def usage_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stepline_runner", "usage", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_usage_command_refuses_what_it_cannot_read_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    refused = usage_command(str(missing))
    assert refused.returncode == 2 and "is not a file" in refused.stderr
    assert not missing.exists()  # never created
    for url in (
        "postgresql://ann:s3cret@127.0.0.1:1/nowhere",  # nothing listens there
        "postgresql://ann:s3cret@127.0.0.1:1/nowhere?sslmode=bogus",  # refused by libpq
    ):
        refused = usage_command(url)
        assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1, refused.stderr
        assert "cannot read postgresql://ann@127.0.0.1:1/nowhere" in refused.stderr
        assert "s3cret" not in refused.stderr
    # libpq quotes the part of a URL it cannot decode: here the password.
    refused = usage_command("postgresql://ann:s3%zzcret@127.0.0.1:1/nowhere")
    assert refused.returncode == 2 and "invalid percent-encoded token" in refused.stderr
    assert "cret" not in refused.stderr, refused.stderr
