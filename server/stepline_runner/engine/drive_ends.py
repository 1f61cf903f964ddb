"""How a run's driver stopped, and what the supervisor does about it: let go
of a run another runner took over, fail a run whose driver broke (the run
stays resumable), or pause a run whose commit the store refused for now and
resume it later, with backoff (`StorePauses`)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from stepline.v1 import events_pb2, payload_pb2, runner_pb2

from ..store import RunUpdate, Store
from . import events as ev
from .driver import RunDriver
from .errors import CommitOutcomeUnknown, StaleEpoch, StoreFull, StoreUnavailable
from .recovery import RetryPolicy

log = logging.getLogger(__name__)


async def drive(driver: RunDriver, store: Store, resume_later: Callable[[str], None]) -> bool:
    """Run the driver until it stops; False when the run is no longer this
    driver's to end (let go of, or to be resumed once the store is back)."""
    run_id = driver.state.run_id
    try:
        await driver.run()
    except StaleEpoch as exc:
        if await superseded(store, run_id, driver.epoch):
            # Another runner owns the run now; it is no longer ours to
            # fail, to end, or to retry.
            log.warning("run %s: let go of it (%s)", run_id, exc)
            driver.log.forget(run_id)
            return False
        # Nobody took the run over: a service claims an epoch the store
        # never gave (a bug, or a service shared with another runner's
        # run of the same id). Fail the run, resumable, rather than
        # leave it running with nobody driving it.
        log.error("run %s: %s, yet the store's epoch is still ours", run_id, exc)
        await record_failure(driver, exc)
    except Exception as exc:
        if store_out_of_reach(exc):
            # A full disk or a locked database passes: the run goes on from
            # what the store holds (its last checkpoint) once it takes
            # commits again.
            log.warning("run %s: cannot commit (%s); will try again", run_id, exc)
            resume_later(run_id)
            return False
        # A bug must not leave the run "running" with watchers waiting
        # for ever: fail it, resumable, and keep the traceback.
        log.exception("run %s: the driver failed", run_id)
        await record_failure(driver, exc)
    return True


async def superseded(store: Store, run_id: str, epoch: int) -> bool:
    """Whether the stored run's epoch moved past `epoch`; when the store
    cannot tell, yes: never drive a run that may be another's."""
    try:
        run = await store.get_run(run_id)
    except Exception as exc:
        log.warning("run %s: cannot read its epoch (%s); letting go of it", run_id, exc)
        return True
    return run is None or run.epoch > epoch


async def record_failure(driver: RunDriver, exc: Exception) -> None:
    try:
        await driver.fail_internal(exc)
    except Exception:
        log.exception("run %s: could not record the failure", driver.state.run_id)


def store_out_of_reach(exc: Exception) -> bool:
    """The store refused for now (full, locked), not for good, or lost a
    commit's answer: the run goes on from what the store holds."""
    return isinstance(exc, StoreFull | StoreUnavailable | CommitOutcomeUnknown)


class StorePauses:
    """Runs whose commit the store refused, and the pause before each one's
    next try: doubling from the retry policy's initial backoff to its cap."""

    def __init__(self, retry: RetryPolicy) -> None:
        self._retry = retry
        self._pauses: dict[str, float] = {}

    def __contains__(self, run_id: str) -> bool:
        return run_id in self._pauses

    def next(self, run_id: str) -> float:
        """The pause before the run's next try (each one longer)."""
        pause = self._pauses.get(run_id, self._retry.initial_backoff)
        self._pauses[run_id] = min(pause * 2, self._retry.max_backoff)
        return pause

    def clear(self, run_id: str) -> None:
        """The run ended: its next outage starts from the initial backoff."""
        self._pauses.pop(run_id, None)


def stored_failure(
    run: runner_pb2.Run, kind: str, message: str
) -> tuple[RunUpdate, list[events_pb2.Event]]:
    """What failing a run that nothing drives writes: its update and events,
    an error of type `kind`. Fenced by the epoch read with `run`: a run taken
    over since stays its owner's."""
    error = payload_pb2.ErrorInfo(type=kind, message=message)
    events = [
        ev.event(events_pb2.EVENT_KIND_RUN_FAILED, run.superstep, error=error),
        ev.status_changed(events_pb2.RUN_STATUS_FAILED, run.superstep),
    ]
    update = RunUpdate(events_pb2.RUN_STATUS_FAILED, run.superstep, error, epoch=run.epoch)
    return update, events
