"""A state whose bytes stay but whose type name or content type changes (a
run moved to a version whose node has another executor type; an executor
that names its content type another way): the engine gives it without its
bytes (the store holds them), the commit finds them in the run's own
reference by its primary key, never by scanning every run's states."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stepline.payloads import data_hash
from stepline.v1 import events_pb2 as E
from stepline.v1 import runner_pb2
from stepline_runner.store.base import NewCheckpoint, RunUpdate, StateRef
from stepline_runner.store.sqlite import SqliteStore
from stepline_runner.store.states import INLINE_BYTES

SMALL = b'{"n":1}'
LARGE = b'"' + b"x" * INLINE_BYTES + b'"'


def checkpoint(superstep: int, states: dict[str, StateRef]) -> NewCheckpoint:
    return NewCheckpoint(
        checkpoint_id=f"c{superstep}",
        superstep=superstep,
        parent_checkpoint_id=f"c{superstep - 1}" if superstep else "",
        graph_signature="g",
        states=states,
        content=runner_pb2.CheckpointContent(),
        changed=frozenset(states) if superstep else None,
    )


def first(data: bytes) -> StateRef:
    return StateRef(data_hash(data), "S", "application/json", data)


def retyped(data: bytes) -> StateRef:
    """The same bytes under another type and content type, given without them."""
    return StateRef(data_hash(data), "T", "application/json; charset=utf-8")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(tmp_path / "s.db")
    run = runner_pb2.Run(run_id="r", workflow_id="w", status=E.RUN_STATUS_RUNNING)
    states = {"small": first(SMALL), "large": first(LARGE)}
    await store.create_run(run, "", checkpoint(0, states), [])
    yield store
    await store.close()


async def commit_retyped(store: SqliteStore) -> list[str]:
    """Commit checkpoint 1 with both states retyped; the query plans of the
    SELECTs the commit ran on checkpoint_states."""
    statements: list[str] = []
    await store._writer.call(lambda db: db.set_trace_callback(statements.append))
    try:
        update = RunUpdate(E.RUN_STATUS_RUNNING, 1, epoch=1)
        states = {"small": retyped(SMALL), "large": retyped(LARGE)}
        await store.commit("r", update, [], checkpoint(1, states))
    finally:
        await store._writer.call(lambda db: db.set_trace_callback(None))

    def plans(db: sqlite3.Connection) -> list[str]:
        selects = [
            s
            for s in statements
            if s.lstrip().upper().startswith("SELECT") and "checkpoint_states" in s
        ]
        assert selects  # the small state's bytes were looked up
        return [
            " / ".join(row[-1] for row in db.execute(f"EXPLAIN QUERY PLAN {s}")) for s in selects
        ]

    return await store._writer.call(plans)


async def test_a_retyped_state_reads_back_with_its_new_type_and_its_bytes(
    store: SqliteStore,
) -> None:
    await commit_retyped(store)

    latest = await store.get_checkpoint("c1", include_content=True)
    before = await store.get_checkpoint("c0", include_content=True)

    assert latest is not None and before is not None
    for executor_id, data in (("small", SMALL), ("large", LARGE)):
        state = latest.content.executor_states[executor_id]
        assert (state.type_name, state.content_type, state.data) == (
            "T",
            "application/json; charset=utf-8",
            data,
        )
        old = before.content.executor_states[executor_id]
        assert (old.type_name, old.content_type, old.data) == ("S", "application/json", data)


async def test_the_commit_finds_the_bytes_by_the_primary_key_without_a_scan(
    store: SqliteStore,
) -> None:
    plans = await commit_retyped(store)

    assert all("SCAN" not in plan for plan in plans), plans
    assert any("USING PRIMARY KEY" in plan for plan in plans), plans
