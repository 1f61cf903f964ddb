"""`Observer`: what the engine tells the world about its work, for metrics,
traces and logs. The engine knows no metrics or tracing library: the
runner's outer layer implements this protocol with them. The default,
`NO_OBSERVER`, does nothing, and costs a method call per superstep.

Scopes (`run`, `superstep`, `commit`) are context managers entered in the
run's task, so what the outer layer makes current in them (a span, a log
context) is seen by every call the engine makes inside, executor calls
included.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from stepline.v1 import events_pb2

_NOTHING = contextlib.nullcontext()

# Why a run rolled back: a bounded vocabulary, fit to be a metric label.
ROLLBACK_RUNNER_RESTARTED = "runner_restarted"
ROLLBACK_EXECUTOR_RESTARTED = "executor_restarted"
ROLLBACK_EXECUTOR_UNREACHABLE = "executor_unreachable"
ROLLBACK_EXECUTOR_LOST_RUN = "executor_lost_run"


class Observer(Protocol):
    def run(self, run_id: str, workflow_id: str, resumed: bool) -> AbstractContextManager[None]:
        """Around driving a run, from its start or a resume until it stops."""
        ...

    def superstep(self, workflow_id: str, superstep: int) -> AbstractContextManager[None]:
        """Around one superstep: its executor calls and its commit, if any."""
        ...

    def commit(self, workflow_id: str) -> AbstractContextManager[None]:
        """Around one store commit of a run's events (and checkpoint)."""
        ...

    def published(self, workflow_id: str, events: Sequence[events_pb2.Event]) -> None:
        """Events were committed and handed to watchers."""
        ...

    def checkpoint_saved(self, workflow_id: str, new_bytes: int) -> None:
        """A checkpoint was written with `new_bytes` of executor state not stored before."""
        ...

    def rollback(self, workflow_id: str, reason: str) -> None:
        """A run went back to its last checkpoint; `reason` is a ROLLBACK_* name."""
        ...

    def executor_retry(self, workflow_id: str) -> None:
        """An executor service was unreachable; the call is tried again after a pause."""
        ...


class NullObserver:
    """Observes nothing."""

    def run(self, run_id: str, workflow_id: str, resumed: bool) -> AbstractContextManager[None]:
        return _NOTHING

    def superstep(self, workflow_id: str, superstep: int) -> AbstractContextManager[None]:
        return _NOTHING

    def commit(self, workflow_id: str) -> AbstractContextManager[None]:
        return _NOTHING

    def published(self, workflow_id: str, events: Sequence[events_pb2.Event]) -> None:
        pass

    def checkpoint_saved(self, workflow_id: str, new_bytes: int) -> None:
        pass

    def rollback(self, workflow_id: str, reason: str) -> None:
        pass

    def executor_retry(self, workflow_id: str) -> None:
        pass


NO_OBSERVER: Observer = NullObserver()
