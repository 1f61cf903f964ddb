"""A commit whose publishing breaks after the hub took its events (here: the
observer, told after the hub) is not published again: the watchers of all
runs (WatchRuns) get each event once (review R12)."""

from __future__ import annotations

import asyncio
from typing import Any

from stepline.testing import InProcessRunner
from stepline.v1 import events_pb2 as E
from tests.unit.gated import Stepper
from tests.unit.test_commit_overlap import started


class BreaksOnce:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.broke = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def published(self, workflow_id: str, events: list[E.Event]) -> None:
        if not self.broke and any(
            e.kind == E.EVENT_KIND_SUPERSTEP_COMPLETED and e.superstep == 2 for e in events
        ):
            self.broke = True
            raise RuntimeError("a bug in the observer")
        self.inner.published(workflow_id, events)


async def test_watchers_of_all_runs_get_each_event_once_when_publishing_breaks(
    harness: InProcessRunner,
) -> None:
    log = harness.runner.log
    observer = log.observer = BreaksOnce(log.observer)  # type: ignore[assignment]
    seen: list[int] = []
    subscribed, ended = asyncio.Event(), asyncio.Event()

    async def watch_all() -> None:
        async for batch in harness.runner.watch_all():
            subscribed.set()
            seen.extend(e.sequence for e in batch)
            if any(e.status == E.RUN_STATUS_COMPLETED for e in batch):
                ended.set()

    watcher = asyncio.ensure_future(watch_all())
    await subscribed.wait()
    run_id, task = await started(harness)
    await Stepper.entered.wait()
    Stepper.release.set()
    await task
    stored = await harness.store.read_events(run_id, 0, 1000)
    await asyncio.wait_for(ended.wait(), 5)  # a second publish would come before the end
    watcher.cancel()
    await asyncio.gather(watcher, return_exceptions=True)

    assert observer.broke
    assert sorted(set(seen)) == [e.sequence for e in stored]
    twice = sorted(s for s in set(seen) if seen.count(s) > 1)
    assert not twice, f"twice: {twice}"


async def test_a_run_s_end_is_told_when_the_observer_fails_on_it(harness: InProcessRunner) -> None:
    # Admission frees the workflow's slot when told of the end (on_end): an
    # observer (metrics) that fails on the same events must not keep it from that.
    log = harness.runner.log
    inner, on_end = log.observer, log.on_end
    ends: list[str] = []

    class BreaksOnTheEnd(BreaksOnce):
        def published(self, workflow_id: str, events: list[E.Event]) -> None:
            if any(e.status == E.RUN_STATUS_COMPLETED for e in events):
                self.broke = True
                raise RuntimeError("a bug in the observer")
            self.inner.published(workflow_id, events)

    def told(workflow_id: str) -> None:
        ends.append(workflow_id)
        if on_end is not None:
            on_end(workflow_id)

    observer = log.observer = BreaksOnTheEnd(inner)  # type: ignore[assignment]
    log.on_end = told
    _, task = await started(harness)
    await Stepper.entered.wait()
    Stepper.release.set()
    await task

    assert observer.broke
    assert ends == ["w"]
