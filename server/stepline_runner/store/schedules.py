"""Schedules in the store: one row each, the `Schedule` message as its body
(what a client asked for and where the schedule stands), so a schedule and
its progress change in one statement. Written once for both stores, as
reads.py is: `?` placeholders over the store's `_all` (a read) and `_write`
(one statement in a transaction of its own; the rows it changed)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from stepline.v1 import runner_pb2

from ..namespaces import split_run_key
from .rows import decode_token, encode_token, last_within

# Bytes of schedules one page holds at most (but always at least one).
PAGE_BYTES = 4 * 1024 * 1024


class Schedules:
    """The schedule statements of a store (which provides the helpers)."""

    async def _write(self, sql: str, params: Sequence[Any]) -> int:
        raise NotImplementedError

    async def _all(self, sql: str, params: Sequence[Any]) -> list[Any]:
        raise NotImplementedError

    async def _write_in_turn(self, key: str, sql: str, params: Sequence[Any]) -> int:
        """`_write`, in turn with every other of the same `key` across the
        runners sharing the database: a statement that counts rows before it
        inserts one must not run beside another doing the same."""
        raise NotImplementedError

    async def insert_schedule(
        self, schedule: runner_pb2.Schedule, at_most: int = 0, at_most_in_all: int = 0
    ) -> bool:
        """Store a new schedule; False when its id is taken, or (`at_most`)
        its namespace holds that many already, or (`at_most_in_all`) the
        store does: nothing changed then.

        The counts and the insert are one statement, in turn with every other
        creation (`_write_in_turn`, one key for all: the count of all is
        shared by every namespace): two runners sharing a database, each
        counting `at_most - 1`, cannot both insert."""
        spec = schedule.spec
        namespace = split_run_key(spec.schedule_id)[0]  # keyed as runs are
        changed = await self._write_in_turn(
            "schedules",
            "INSERT INTO schedules (schedule_id, workflow_id, body, updated_at, namespace)"
            " SELECT ?, ?, ?, ?, ?"
            " WHERE (? = 0 OR (SELECT count(*) FROM schedules WHERE namespace = ?) < ?)"
            " AND (? = 0 OR (SELECT count(*) FROM schedules) < ?)"
            " ON CONFLICT (schedule_id) DO NOTHING",
            (
                spec.schedule_id,
                spec.workflow_id,
                schedule.SerializeToString(),
                time.time(),
                namespace,
                at_most,
                namespace,
                at_most,
                at_most_in_all,
                at_most_in_all,
            ),
        )
        return changed == 1

    async def update_schedule(self, schedule: runner_pb2.Schedule) -> bool:
        """Replace a schedule's body; False when it is gone (deleted meanwhile)."""
        changed = await self._write(
            "UPDATE schedules SET body = ?, updated_at = ? WHERE schedule_id = ?",
            (schedule.SerializeToString(), time.time(), schedule.spec.schedule_id),
        )
        return changed == 1

    async def delete_schedule(self, schedule_id: str) -> bool:
        changed = await self._write("DELETE FROM schedules WHERE schedule_id = ?", (schedule_id,))
        return changed == 1

    async def get_schedule(self, schedule_id: str) -> runner_pb2.Schedule | None:
        rows = await self._all("SELECT body FROM schedules WHERE schedule_id = ?", (schedule_id,))
        return runner_pb2.Schedule.FromString(rows[0][0]) if rows else None

    async def count_schedules(self, namespace: str | None = None) -> int:
        """Schedules of one namespace, if given, else of all."""
        if namespace is None:
            rows = await self._all("SELECT count(*) FROM schedules", ())
        else:
            rows = await self._all(
                "SELECT count(*) FROM schedules WHERE namespace = ?", (namespace,)
            )
        return int(rows[0][0])

    async def list_schedules(
        self,
        workflow_id: str,
        page_size: int,
        page_token: str,
        max_bytes: int = PAGE_BYTES,
        *,
        namespace: str | None = None,
    ) -> tuple[list[runner_pb2.Schedule], str]:
        """Schedules in creation order (of one workflow, of one namespace, if
        given), a page at a time: at most `page_size`, and a few MiB (but at
        least one)."""
        after = decode_token(page_token)
        where = "seq > ?"
        params: list[Any] = [after]
        if workflow_id:
            where += " AND workflow_id = ?"
            params.append(workflow_id)
        if namespace is not None:
            where += " AND namespace = ?"
            params.append(namespace)
        # Sizes first: a page of a thousand schedules with large inputs must
        # not be read (and sent) at once.
        sizes = await self._all(
            f"SELECT seq, length(body) FROM schedules WHERE {where} ORDER BY seq LIMIT ?",
            (*params, page_size + 1),
        )
        last = last_within(sizes[:page_size], after, max_bytes)
        if last == after:
            return [], ""
        rows = await self._all(
            f"SELECT body FROM schedules WHERE {where} AND seq <= ? ORDER BY seq",
            (*params, last),
        )
        token = encode_token(last) if sizes[-1][0] > last else ""
        return [runner_pb2.Schedule.FromString(r[0]) for r in rows], token
