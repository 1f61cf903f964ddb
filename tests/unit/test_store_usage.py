"""`read_usage`: what a store's file holds, read from outside the runner."""

from __future__ import annotations

from pathlib import Path

from stepline.testing import InProcessRunner
from stepline_runner.store.usage import CHECKPOINT_TABLES, read_usage
from tests.unit.plateau import Plateau, plateau_loop


async def test_usage_counts_the_rows_and_state_bytes_a_run_left(
    harness: InProcessRunner, tmp_path: Path
) -> None:
    db = tmp_path / "stepline.db"
    empty = read_usage(db)
    harness.host("svc", {"plateau": Plateau})
    await harness.runner.register_workflow(plateau_loop())
    events = await harness.run("w", 0)
    run = await harness.get_run(events[0].run_id)

    usage = read_usage(db)

    assert empty.last_superstep == 0 and empty.state_bytes == 0
    assert usage.last_superstep == run.superstep == 9
    assert usage.rows["checkpoints"] == 10  # superstep 0 to 9
    assert usage.rows["events"] == len(events)
    # Plateau's states are levels 0 to 3, each stored once however often saved.
    assert usage.state_bytes == 4 * len(b'{"level":0}')
    assert set(CHECKPOINT_TABLES) <= set(usage.rows)
    assert sum(usage.table_bytes.values()) + sum(usage.index_bytes.values()) <= usage.db_bytes
