"""The store's reads, written once for SQLite and PostgreSQL.

Both stores keep the same tables (schema.py, postgres_schema.py), and their
reads are the same SQL but for the placeholder. `StoreReads` holds them, with
`?` placeholders, over a subclass's `_all(sql, params)` (the PostgreSQL store
turns each `?` into psycopg's `%s`). What differs is named on the subclass:
`WORKFLOW_ORDER`, the column that orders workflows by registration (SQLite's
rowid, PostgreSQL's seq), and `LOAD_STATES` (states.py says what it selects).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from stepline.v1 import events_pb2, runner_pb2, workflow_pb2

from ..statuses import TERMINAL
from .base import READ_BYTES, RunFilter, StoredWorkflow
from .rows import (
    CHECKPOINT_COLUMNS,
    RUN_COLUMNS,
    checkpoint_row,
    decode_token,
    encode_token,
    last_within,
    run_row,
    workflow_row,
)
from .states import decode_states


def marks(values: Sequence[Any]) -> str:
    """`?, ?, ?`: one placeholder per value, for an IN list."""
    return ",".join("?" * len(values))


SAME_RUN = " AND EXISTS (SELECT 1 FROM runs WHERE run_id = ? AND seq = ?)"


class StoreReads:
    WORKFLOW_ORDER: ClassVar[str]
    LOAD_STATES: ClassVar[str]

    async def _all(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """Every row the query returns (placeholders `?`), as one call."""
        raise NotImplementedError

    async def _one(self, sql: str, params: Sequence[Any]) -> Any:
        rows = await self._all(sql, params)
        return rows[0] if rows else None

    # -- workflows

    async def get_workflow(self, workflow_id: str, version: int = 0) -> StoredWorkflow | None:
        if version:
            row = await self._one(
                "SELECT definition, graph_signature, version FROM workflow_versions"
                " WHERE workflow_id = ? AND version = ?",
                (workflow_id, version),
            )
        else:
            row = await self._one(
                "SELECT definition, graph_signature, version FROM workflows WHERE workflow_id = ?",
                (workflow_id,),
            )
        if row is None:
            return None
        return StoredWorkflow(workflow_pb2.WorkflowDefinition.FromString(row[0]), row[1], row[2])

    async def list_workflows(
        self,
        page_size: int,
        page_token: str,
        max_bytes: int = READ_BYTES,
        *,
        namespace: str | None = None,
    ) -> tuple[list[runner_pb2.WorkflowSummary], str]:
        # Registration order; re-registering (an upsert) keeps a workflow's place.
        seq, after = self.WORKFLOW_ORDER, decode_token(page_token)
        within, scope = ("", ()) if namespace is None else (" AND namespace = ?", (namespace,))
        # Sizes first: a summary is made from the whole definition, and a page
        # of a thousand 1 MiB definitions must not be read (and parsed) at once.
        sizes = await self._all(
            f"SELECT {seq}, length(definition) FROM workflows WHERE {seq} > ?{within}"
            f" ORDER BY {seq} LIMIT ?",
            (after, *scope, page_size + 1),
        )
        last = last_within(sizes[:page_size], after, max_bytes)
        if last == after:
            return [], ""
        rows = await self._all(
            f"SELECT definition, graph_signature, updated_at, version, {seq} FROM workflows"
            f" WHERE {seq} > ? AND {seq} <= ?{within} ORDER BY {seq}",
            (after, last, *scope),
        )
        token = encode_token(last) if sizes[-1][0] > last else ""
        return [workflow_row(r) for r in rows], token

    # -- runs

    async def get_run(self, run_id: str) -> runner_pb2.Run | None:
        row = await self._one(f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,))
        return None if row is None else run_row(row)

    async def get_run_input_hash(self, run_id: str) -> str | None:
        row = await self._one("SELECT input_hash FROM runs WHERE run_id = ?", (run_id,))
        return None if row is None else str(row[0])

    async def list_runs(
        self, workflow_id: str, page_size: int, page_token: str, where: RunFilter | None = None
    ) -> tuple[list[runner_pb2.Run], str]:
        where = where or RunFilter()
        conditions = ["seq < ?"]
        params: list[Any] = [decode_token(page_token) or 2**62]
        if workflow_id:
            conditions.append("workflow_id = ?")
            params.append(workflow_id)
        if where.statuses:
            conditions.append(f"status IN ({marks(sorted(where.statuses))})")
            params.extend(sorted(where.statuses))
        if where.created_after is not None:
            conditions.append("created_at >= ?")
            params.append(where.created_after)
        if where.created_before is not None:
            conditions.append("created_at < ?")
            params.append(where.created_before)
        if where.namespace is not None:
            conditions.append("namespace = ?")
            params.append(where.namespace)
        rows = await self._all(
            f"SELECT {RUN_COLUMNS}, seq FROM runs WHERE {' AND '.join(conditions)}"
            " ORDER BY seq DESC LIMIT ?",
            (*params, page_size + 1),
        )
        token = encode_token(rows[page_size - 1][-1]) if len(rows) > page_size else ""
        return [run_row(r) for r in rows[:page_size]], token

    async def finished_runs_before(self, updated_before: float, limit: int) -> list[str]:
        ended = sorted(TERMINAL)
        rows = await self._all(
            f"SELECT run_id FROM runs WHERE status IN ({marks(ended)})"
            " AND updated_at < ? ORDER BY updated_at LIMIT ?",
            (*ended, updated_before, limit),
        )
        return [str(r[0]) for r in rows]

    async def list_unfinished_runs(self) -> list[runner_pb2.Run]:
        ended = sorted(TERMINAL)
        rows = await self._all(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE status NOT IN ({marks(ended)}) ORDER BY seq",
            ended,
        )
        return [run_row(r) for r in rows]

    async def count_runs(self, workflow_id: str, statuses: frozenset[int]) -> int:
        wanted = sorted(statuses)
        row = await self._one(
            f"SELECT count(*) FROM runs WHERE workflow_id = ? AND status IN ({marks(wanted)})",
            (workflow_id, *wanted),
        )
        return int(row[0])

    async def oldest_runs(
        self, workflow_id: str, statuses: frozenset[int], limit: int
    ) -> list[runner_pb2.Run]:
        wanted = sorted(statuses)
        rows = await self._all(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE workflow_id = ? AND status IN ({marks(wanted)})"
            " ORDER BY seq LIMIT ?",
            (workflow_id, *wanted, limit),
        )
        return [run_row(r) for r in rows]

    # -- checkpoints

    async def list_checkpoints(
        self, run_id: str, page_size: int, page_token: str
    ) -> tuple[list[runner_pb2.Checkpoint], str]:
        after = decode_token(page_token)
        rows = await self._all(
            f"SELECT {CHECKPOINT_COLUMNS}, seq FROM checkpoints WHERE run_id = ? AND seq > ?"
            " ORDER BY seq LIMIT ?",
            (run_id, after, page_size + 1),
        )
        token = encode_token(rows[page_size - 1][-1]) if len(rows) > page_size else ""
        return [checkpoint_row(r) for r in rows[:page_size]], token

    async def get_checkpoint(
        self, checkpoint_id: str, include_content: bool, include_states: bool = True
    ) -> runner_pb2.Checkpoint | None:
        content = "content" if include_content else "NULL"
        row = await self._one(
            f"SELECT {CHECKPOINT_COLUMNS}, {content}, seq FROM checkpoints WHERE checkpoint_id = ?",
            (checkpoint_id,),
        )
        if row is None:
            return None
        checkpoint = checkpoint_row(row)
        if include_content:
            checkpoint.content.ParseFromString(row[-2])
        if include_content and include_states:
            rows = await self._all(self.LOAD_STATES, (checkpoint.run_id, row[-1]))
            for executor_id, state in decode_states(checkpoint_id, rows).items():
                checkpoint.content.executor_states[executor_id].CopyFrom(state)
        return checkpoint

    # -- events

    async def read_events(
        self, run_id: str, after_sequence: int, limit: int, max_bytes: int = READ_BYTES
    ) -> list[events_pb2.Event]:
        events, _ = await self.page_events(run_id, after_sequence, limit, max_bytes)
        return events

    async def page_events(
        self,
        run_id: str,
        after_sequence: int,
        limit: int,
        max_bytes: int = READ_BYTES,
        incarnation: int | None = None,
    ) -> tuple[list[events_pb2.Event], bool]:
        # Sizes first: a watcher catching up on a run of large outputs must
        # not hold `limit` of them at once. One more row says if more follow.
        # `incarnation`: none unless the run's row is still that one (its seq),
        # read in each query's own snapshot (a run made again under its id).
        same, also = ("", ()) if incarnation is None else (SAME_RUN, (run_id, incarnation))
        sizes = await self._all(
            "SELECT sequence, length(body) FROM events WHERE run_id = ? AND sequence > ?"
            f"{same} ORDER BY sequence LIMIT ?",
            (run_id, after_sequence, *also, limit + 1),
        )
        last = last_within(sizes[:limit], after_sequence, max_bytes)
        more = bool(sizes) and sizes[-1][0] > last
        if last == after_sequence:
            return [], more
        rows = await self._all(
            "SELECT sequence, body FROM events WHERE run_id = ? AND sequence > ?"
            f" AND sequence <= ?{same} ORDER BY sequence",
            (run_id, after_sequence, last, *also),
        )
        events = []
        for sequence, body in rows:
            event = events_pb2.Event.FromString(body)
            event.run_id, event.sequence = run_id, sequence
            events.append(event)
        return events, more

    async def answered_request_ids(self, run_id: str) -> set[str]:
        """The requests for input the run's log shows answered."""
        rows = await self._all(
            "SELECT body FROM events WHERE run_id = ? AND kind = ?",
            (run_id, events_pb2.EVENT_KIND_RESPONSE_RECEIVED),
        )
        return {events_pb2.Event.FromString(r[0]).request.request_id for r in rows}
