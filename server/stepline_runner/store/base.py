"""The store interface and the records that cross it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from stepline.v1 import events_pb2, payload_pb2, runner_pb2, workflow_pb2

from .deletion import RunDeletion

# Bytes one read of events or workflow definitions returns at most, by default.
READ_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class StateRef:
    """An executor state by content hash. `data` is None when the store
    already holds those bytes (the state did not change)."""

    hash: str
    type_name: str
    content_type: str
    data: bytes | None = None

    def stored(self) -> StateRef:
        """The same reference without the bytes, once the store has them."""
        return StateRef(self.hash, self.type_name, self.content_type)


@dataclass
class NewCheckpoint:
    checkpoint_id: str
    superstep: int
    parent_checkpoint_id: str
    graph_signature: str
    states: dict[str, StateRef]
    # Everything but executor_states, which travel as `states`.
    content: runner_pb2.CheckpointContent
    # Executors whose state differs from the run's previous checkpoint; None
    # for a run's first checkpoint (every state is new to it).
    changed: frozenset[str] | None = None


@dataclass(frozen=True)
class RunUpdate:
    status: events_pb2.RunStatus
    superstep: int
    error: payload_pb2.ErrorInfo | None = None
    # The workflow version the run uses from now on; 0: unchanged.
    workflow_version: int = 0
    # The writer's epoch of the run (from `claim_run`, or 1 for its creator):
    # the commit is refused (StaleEpoch) once the run's epoch moved past it.
    # 0: unfenced (tools and tests; the engine always fences).
    epoch: int = 0


@dataclass(frozen=True)
class StoredWorkflow:
    """One immutable version of a registered workflow."""

    definition: workflow_pb2.WorkflowDefinition
    signature: str
    version: int


@dataclass(frozen=True)
class RunFilter:
    """Which runs a listing returns; the defaults let every run through."""

    statuses: frozenset[int] = frozenset()
    # Bounds on `created_at`, seconds since the epoch: after <= t < before.
    created_after: float | None = None
    created_before: float | None = None
    # Only the runs of this namespace; None: of every namespace.
    namespace: str | None = None


class ScheduleStore(Protocol):
    """Schedules, each one record: what was asked and where it stands."""

    async def insert_schedule(
        self, schedule: runner_pb2.Schedule, at_most: int = 0, at_most_in_all: int = 0
    ) -> bool:
        """Store a new schedule; False when its id is taken, or (`at_most`) its
        namespace holds that many already, or (`at_most_in_all`) the store
        does, counted atomically with the insert, across runners too (nothing
        changed then)."""
        ...

    async def update_schedule(self, schedule: runner_pb2.Schedule) -> bool:
        """Replace a stored schedule; False when there is none with its id."""
        ...

    async def delete_schedule(self, schedule_id: str) -> bool: ...

    async def get_schedule(self, schedule_id: str) -> runner_pb2.Schedule | None: ...

    async def count_schedules(self, namespace: str | None = None) -> int: ...

    async def list_schedules(
        self, workflow_id: str, page_size: int, page_token: str, *, namespace: str | None = None
    ) -> tuple[list[runner_pb2.Schedule], str]:
        """In creation order (of one workflow, of one namespace, if given), a
        page at a time."""
        ...


class Store(ScheduleStore, Protocol):
    """Runs, checkpoints, events and schedules. Every write is one atomic transaction."""

    async def put_workflow(
        self, definition: workflow_pb2.WorkflowDefinition, signature: str
    ) -> int:
        """Store the definition as the workflow's next version; return it."""
        ...

    async def get_workflow(self, workflow_id: str, version: int = 0) -> StoredWorkflow | None:
        """One version of a workflow; 0: the latest."""
        ...

    async def list_workflows(
        self,
        page_size: int,
        page_token: str,
        max_bytes: int = READ_BYTES,
        *,
        namespace: str | None = None,
    ) -> tuple[list[runner_pb2.WorkflowSummary], str]:
        """Registered workflows in registration order, a page at a time: at
        most `page_size`, and those of `max_bytes` of definitions (at least one);
        only those of `namespace` if given."""
        ...

    async def create_run(
        self,
        run: runner_pb2.Run,
        input_hash: str,
        checkpoint: NewCheckpoint,
        events: list[events_pb2.Event],
    ) -> list[events_pb2.Event]:
        """Insert a run with its first checkpoint and events; return the events
        with their sequence numbers."""
        ...

    async def commit(
        self,
        run_id: str,
        update: RunUpdate,
        events: list[events_pb2.Event],
        checkpoint: NewCheckpoint | None = None,
        keep_last: int = 0,
    ) -> list[events_pb2.Event]:
        """Store a checkpoint (if any), the events and the run's new status in
        one transaction; return the events with their sequence numbers. With
        `keep_last`, older checkpoints of the run beyond that many go, with the
        state blobs nothing else references. `StaleEpoch`, and nothing
        written, when `update.epoch` is set and is no longer the run's."""
        ...

    async def claim_run(self, run_id: str) -> int:
        """Take the run over: raise its epoch by one, in one transaction, and
        return the new epoch (0: no such run). A new run starts at epoch 1."""
        ...

    async def delete_checkpoint(self, run_id: str, checkpoint_id: str) -> int:
        """Delete one checkpoint and its unreferenced blobs; return the blob count."""
        ...

    async def get_run(self, run_id: str) -> runner_pb2.Run | None: ...

    async def get_run_input_hash(self, run_id: str) -> str | None: ...

    async def list_runs(
        self, workflow_id: str, page_size: int, page_token: str, where: RunFilter | None = None
    ) -> tuple[list[runner_pb2.Run], str]: ...

    async def delete_run(self, run_id: str) -> RunDeletion:
        """Delete a run with its events, checkpoints and the blobs only it used."""
        ...

    async def finished_runs_before(self, updated_before: float, limit: int) -> list[str]:
        """Ids of ended runs last updated before that time, oldest first."""
        ...

    async def list_unfinished_runs(self) -> list[runner_pb2.Run]: ...

    async def count_runs(self, workflow_id: str, statuses: frozenset[int]) -> int:
        """How many runs of the workflow are in one of `statuses`."""
        ...

    async def oldest_runs(
        self, workflow_id: str, statuses: frozenset[int], limit: int
    ) -> list[runner_pb2.Run]:
        """The workflow's first `limit` runs in one of `statuses`, in creation order."""
        ...

    async def list_checkpoints(
        self, run_id: str, page_size: int, page_token: str
    ) -> tuple[list[runner_pb2.Checkpoint], str]: ...

    async def get_checkpoint(
        self, checkpoint_id: str, include_content: bool, include_states: bool = True
    ) -> runner_pb2.Checkpoint | None:
        """A checkpoint; with `include_content` what it holds, executor states
        too unless `include_states` is False (they may be large)."""
        ...

    async def read_events(
        self, run_id: str, after_sequence: int, limit: int, max_bytes: int = READ_BYTES
    ) -> list[events_pb2.Event]:
        """The run's events after `after_sequence`: at most `limit`, and at
        most `max_bytes` (but at least one event, however large)."""
        ...

    async def page_events(
        self,
        run_id: str,
        after_sequence: int,
        limit: int,
        max_bytes: int = READ_BYTES,
        incarnation: int | None = None,
    ) -> tuple[list[events_pb2.Event], bool]:
        """`read_events`, and whether the store held events after those then;
        with `incarnation`, none unless the run's row is that one still (its
        `seq`: a run deleted and made again under its id has another)."""
        ...

    async def answered_request_ids(self, run_id: str) -> set[str]:
        """Ids of the requests for input the run's log shows answered."""
        ...

    async def close(self) -> None: ...
