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
from .errors import CommitOutcomeUnknown
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
        # Told the run id when a commit's outcome is unknown (supervisor.py).
        self.on_unknown: Callable[[str], None] | None = None

    def _unknown(self, run_id: str) -> None:
        """A commit of the run may have landed unpublished: watchers read the
        store from now on, and the run is read again before it goes on."""
        self._hub.wake(run_id)
        if self.on_unknown is not None:
            self.on_unknown(run_id)

    async def create(
        self,
        run: runner_pb2.Run,
        input_hash: str,
        checkpoint: NewCheckpoint,
        events: list[events_pb2.Event],
    ) -> list[events_pb2.Event]:
        """Store a new run with its first checkpoint and events, then publish them."""
        try:
            stored = await self._store.create_run(run, input_hash, checkpoint, events)
        except CommitOutcomeUnknown:
            self._unknown(run.run_id)
            raise
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
        try:
            with self.observer.commit(workflow_id):
                stored = await self._store.commit(run_id, update, events, checkpoint, keep_last)
        except CommitOutcomeUnknown:
            self._unknown(run_id)
            raise
        self._hub.publish(run_id, workflow_id, stored)
        self.observer.published(workflow_id, stored)
        if self.on_end is not None and any(ends_run(e) for e in stored):
            self.on_end(workflow_id)
        return stored
