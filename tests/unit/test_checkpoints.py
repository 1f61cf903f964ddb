"""Checkpoints that cost what changed: dedup, policies, retention, GC, integrity."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepline import payloads
from stepline.testing import InProcessRunner, of_kind, outputs
from stepline.v1 import events_pb2 as E
from stepline.v1 import workflow_pb2
from stepline_runner.engine.errors import FailedPrecondition, InvalidArgument, NotFound
from stepline_runner.store.sqlite import CorruptBlob
from tests.support.stores import corrupt_states, harness_on_both_stores, rows, state_copies
from tests.unit.plateau import Plateau, plateau_loop

Mode = workflow_pb2.CheckpointPolicy


__all__ = ["harness_on_both_stores"]  # every test here runs on SQLite and PostgreSQL


async def test_an_unchanged_state_costs_no_new_bytes(
    harness: InProcessRunner, store_location: str | Path
) -> None:
    host = harness.host("svc", {"plateau": Plateau})
    await harness.runner.register_workflow(plateau_loop())
    saves: list[bool] = []  # what each state answered, with Execute or SaveCheckpoint
    save, execute_call = host.save, host.execute

    async def spy_save(request):  # type: ignore[no-untyped-def]
        response = await save(request)
        saves.append(response.unchanged)
        return response

    async def spy_execute(request, *result):  # type: ignore[no-untyped-def]
        response = await execute_call(request, *result)
        if response.HasField("checkpoint"):
            saves.append(response.checkpoint.unchanged)
        return response

    host.save = spy_save  # type: ignore[method-assign]
    host.execute = spy_execute  # type: ignore[method-assign]

    events = await harness.run("w", 0)

    assert outputs(events) == [3]
    db = store_location
    assert rows(db, "SELECT count(*) FROM checkpoints") == [(10,)]  # 0..9
    # A reference only where the state changed (supersteps 1-4), bytes once each.
    assert rows(db, "SELECT count(*) FROM checkpoint_states") == [(4,)]
    assert state_copies(db) == 4  # levels 0, 1, 2, 3
    assert saves.count(True) == 5  # supersteps 5-9: the executor said "unchanged"
    checkpoints, _ = await harness.runner.list_checkpoints(events[0].run_id, 0, "")
    levels = []
    for checkpoint in checkpoints:
        content = (await harness.runner.get_checkpoint(checkpoint.checkpoint_id, True)).content
        levels.append(
            payloads.json_value(content.executor_states["p"]) if content.executor_states else None
        )
    assert levels == [None, *({"level": n} for n in (0, 1, 2, 3, 3, 3, 3, 3, 3))]


async def test_retention_keeps_the_last_n_and_collects_garbage(
    harness: InProcessRunner, store_location: str | Path
) -> None:
    harness.host("svc", {"plateau": Plateau})
    await harness.runner.register_workflow(plateau_loop(keep_last=2))

    events = await harness.run("w", 0)

    checkpoints, _ = await harness.runner.list_checkpoints(events[0].run_id, 0, "")
    assert [c.superstep for c in checkpoints] == [8, 9]
    db = store_location
    assert state_copies(db) == 1  # only level 3 is referenced
    latest = await harness.runner.get_checkpoint(checkpoints[-1].checkpoint_id, True)
    assert payloads.json_value(latest.content.executor_states["p"]) == {"level": 3}


async def test_deleting_never_removes_a_blob_another_checkpoint_references(
    harness: InProcessRunner,
) -> None:
    harness.host("svc", {"plateau": Plateau})
    await harness.runner.register_workflow(plateau_loop())
    events = await harness.run("w", 0)
    run_id = events[0].run_id
    checkpoints, _ = await harness.runner.list_checkpoints(run_id, 0, "")

    with pytest.raises(FailedPrecondition, match="is the latest of run"):
        await harness.runner.delete_checkpoint(checkpoints[-1].checkpoint_id)
    with pytest.raises(NotFound):
        await harness.runner.delete_checkpoint("nope")
    # Level 3 is also in checkpoints 4-9, so deleting 4 frees nothing...
    assert await harness.runner.delete_checkpoint(checkpoints[4].checkpoint_id) == 0
    # ...while level 1 lives only in checkpoint 2.
    assert await harness.runner.delete_checkpoint(checkpoints[2].checkpoint_id) == 1
    remaining, _ = await harness.runner.list_checkpoints(run_id, 0, "")
    assert len(remaining) == 8
    for checkpoint in remaining:
        await harness.runner.get_checkpoint(checkpoint.checkpoint_id, include_content=True)


@pytest.mark.parametrize(
    ("policy", "checkpointed"),
    [
        (Mode(mode=Mode.MODE_EVERY_N_SUPERSTEPS, every_n=3), [0, 3, 6, 9]),
        (Mode(mode=Mode.MODE_ON_PAUSE_OR_FINISH), [0, 9]),
    ],
)
async def test_sparse_checkpoint_policies(
    harness: InProcessRunner, policy: Mode, checkpointed: list[int]
) -> None:
    harness.host("svc", {"plateau": Plateau})
    await harness.runner.register_workflow(plateau_loop(policy=policy))

    events = await harness.run("w", 0)

    checkpoints, _ = await harness.runner.list_checkpoints(events[0].run_id, 0, "")
    assert [c.superstep for c in checkpoints] == checkpointed
    completed = of_kind(events, E.EVENT_KIND_SUPERSTEP_COMPLETED)
    assert [c.superstep for c in completed] == list(range(1, 10))
    assert [c.superstep for c in completed if c.checkpoint_id] == checkpointed[1:]
    assert outputs(events) == [3]
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    final = await harness.runner.get_checkpoint(checkpoints[-1].checkpoint_id, True)
    assert payloads.json_value(final.content.executor_states["p"]) == {"level": 3}


async def test_a_run_can_override_the_workflow_policy(harness: InProcessRunner) -> None:
    harness.host("svc", {"plateau": Plateau})
    await harness.runner.register_workflow(plateau_loop())
    policy = Mode(mode=Mode.MODE_ON_PAUSE_OR_FINISH)

    run = await harness.runner.start_run("w", payloads.encode(0), policy=policy)
    await harness.events(run.run_id)

    checkpoints, _ = await harness.runner.list_checkpoints(run.run_id, 0, "")
    assert [c.superstep for c in checkpoints] == [0, 9]
    assert (await harness.get_run(run.run_id)).checkpoint_policy == policy
    with pytest.raises(InvalidArgument, match="every_n"):
        await harness.runner.start_run(
            "w", payloads.encode(0), policy=Mode(mode=Mode.MODE_EVERY_N_SUPERSTEPS)
        )


async def test_a_corrupted_blob_is_refused_and_nothing_changes(
    harness: InProcessRunner, store_location: str | Path
) -> None:
    harness.host("svc", {"plateau": Plateau})
    await harness.runner.register_workflow(plateau_loop())
    events = await harness.run("w", 0)
    checkpoints, _ = await harness.runner.list_checkpoints(events[0].run_id, 0, "")
    db = store_location
    corrupt_states(db, '{"level":99}')
    before = rows(db, "SELECT count(*), max(superstep) FROM checkpoints")

    with pytest.raises(CorruptBlob, match="does not match its hash"):
        await harness.runner.resume(checkpoints[5].checkpoint_id)

    assert rows(db, "SELECT count(*), max(superstep) FROM checkpoints") == before
    runs, _ = await harness.runner.list_runs("", 0, "")
    assert len(runs) == 1
