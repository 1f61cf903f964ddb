"""`RunLog`: the one way events enter a run's log.

A run's events are stored (with the run's new status, and a checkpoint when
there is one, in one transaction) and then published to the hub, numbered as
the store numbered them. Going through this object is what makes "stored
before sent" hold: nothing in the engine writes a run's events to the store,
or publishes them, any other way.
"""

from __future__ import annotations

from collections.abc import Callable

from stepline.v1 import events_pb2, runner_pb2

from ..statuses import ends_run
from ..store import NewCheckpoint, RunUpdate, Store
from .hub import EventHub
from .observe import NO_OBSERVER, Observer


class RunLog:
    def __init__(self, store: Store, hub: EventHub, observer: Observer = NO_OBSERVER) -> None:
        self._store = store
        self._hub = hub
        # Everything the engine reports (metrics, traces) goes through here too.
        self.observer = observer
        # Told the workflow id when one of its runs ends (admission.py).
        self.on_end: Callable[[str], None] | None = None

    async def create(
        self,
        run: runner_pb2.Run,
        input_hash: str,
        checkpoint: NewCheckpoint,
        events: list[events_pb2.Event],
    ) -> list[events_pb2.Event]:
        """Store a new run with its first checkpoint and events, then publish them."""
        stored = await self._store.create_run(run, input_hash, checkpoint, events)
        self._hub.publish(run.run_id, run.workflow_id, stored)
        self.observer.published(run.workflow_id, stored)
        return stored

    async def append(
        self,
        run_id: str,
        workflow_id: str,
        update: RunUpdate,
        events: list[events_pb2.Event],
        checkpoint: NewCheckpoint | None = None,
        keep_last: int = 0,
    ) -> list[events_pb2.Event]:
        """Store the events with the run's update (and checkpoint, pruning to
        `keep_last` checkpoints if set), then publish what was stored."""
        with self.observer.commit(workflow_id):
            stored = await self._store.commit(run_id, update, events, checkpoint, keep_last)
        self._hub.publish(run_id, workflow_id, stored)
        self.observer.published(workflow_id, stored)
        if self.on_end is not None and any(ends_run(e) for e in stored):
            self.on_end(workflow_id)
        return stored
