"""`RunLog`: the one way events enter a run's log.

A run's events are stored (with the run's new status, and a checkpoint when
there is one, in one transaction) and then published to the hub, numbered as
the store numbered them. Going through this object is what makes "stored
before sent" hold: nothing in the engine writes a run's events to the store,
or publishes them, any other way.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from stepline.v1 import events_pb2, runner_pb2

from ..statuses import ends_run
from ..store import NewCheckpoint, RunUpdate, Store
from .errors import CommitOutcomeUnknown, StoreFull, StoreUnavailable
from .hub import EventHub
from .observe import NO_OBSERVER, Observer

log = logging.getLogger(__name__)
# Events read from the store at once when catching up after an unknown outcome.
CATCH_UP_BATCH = 256


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
        # Run id -> the last sequence published, while the run goes on here
        # (dropped when it ends, is deleted, or another runner takes it: `forget`).
        self._published: dict[str, int] = {}
        # Run id -> its workflow, while a commit of unknown outcome may have
        # landed unpublished (until `catch_up` published what the store holds).
        self._unsure: dict[str, str] = {}

    def forget(self, run_id: str) -> None:
        """The run was deleted, or another runner drives it now: this runner
        publishes nothing more of it, so keep nothing of it (here or in the
        hub). A run made again under its id is published from its start."""
        self._published.pop(run_id, None)
        self._unsure.pop(run_id, None)
        self._hub.forget(run_id)

    def deleted(self, run_id: str) -> None:
        """The run was deleted here: `forget` it, and so does the relay (its
        cursor would skip the first events of a run made again under its id)."""
        self.forget(run_id)
        if self._hub.relay is not None:
            self._hub.relay.forget(run_id)

    def _unknown(self, run_id: str, workflow_id: str) -> None:
        """A commit of the run may have landed unpublished: watchers read the
        store from now on, and the run is read again before it goes on."""
        self._unsure[run_id] = workflow_id
        self._hub.wake(run_id)
        if self.on_unknown is not None:
            self.on_unknown(run_id)

    def _publish(self, run_id: str, workflow_id: str, events: list[events_pb2.Event]) -> None:
        """Publish the events past the last published (each once, in order)."""
        after = self._published.get(run_id, 0)
        # In sequence order: all are past it when the first is (every commit).
        if not events or events[0].sequence <= after:
            events = [e for e in events if e.sequence > after]
        stored = events
        if not stored:
            return
        self._hub.publish(run_id, workflow_id, stored)
        if ends_run(stored[-1]):
            self._published.pop(run_id, None)
            self._unsure.pop(run_id, None)
        else:
            self._published[run_id] = stored[-1].sequence
        # Published now: what else is told, each on its own, cannot make it published again.
        try:
            self.observer.published(workflow_id, stored)
        except Exception:
            log.exception("run %s: the observer failed on published events", run_id)
        if self.on_end is not None and any(ends_run(e) for e in stored):
            try:
                self.on_end(workflow_id)
            except Exception:
                log.exception("run %s: telling of its end failed", run_id)

    async def catch_up(self, run_id: str) -> None:
        """After a commit of unknown outcome, once the store answers again:
        publish what it holds past the last event published (the commit, if
        it landed unheard), in order and once, so the watchers of all runs
        (WatchRuns), who hear only what is published, miss none of it."""
        workflow_id = self._unsure.get(run_id)
        if workflow_id is None:
            return
        while run_id in self._unsure:
            after = self._published.get(run_id, 0)
            events = await self._store.read_events(run_id, after, CATCH_UP_BATCH)
            if not events:
                break
            self._publish(run_id, workflow_id, events)
        self._unsure.pop(run_id, None)

    async def _committed(
        self, run_id: str, workflow_id: str, stored: list[events_pb2.Event]
    ) -> None:
        if stored and run_id in self._unsure:
            # Committed before the run was read again: what landed unheard goes first.
            with contextlib.suppress(StoreUnavailable, StoreFull):
                await self.catch_up(run_id)
        try:
            self._publish(run_id, workflow_id, stored)
        except Exception:
            # Stored, so committed: the commit stands (its run going on from
            # it), and the events reach watchers as an unknown outcome's do.
            # The hub's own failure: the observer's and on_end's are `_publish`'s.
            log.exception("run %s: publishing a commit failed", run_id)
            self._unknown(run_id, workflow_id)

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
            self._unknown(run.run_id, run.workflow_id)
            raise
        await self._committed(run.run_id, run.workflow_id, stored)
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
            self._unknown(run_id, workflow_id)
            raise
        await self._committed(run_id, workflow_id, stored)
        return stored
