"""The runner's process collects cycles less often, start-up's objects frozen
out of every collection (collector.py); put back after the test."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from stepline_runner.collector import YOUNG_THRESHOLD, tune_collector


@pytest.fixture
def restored() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_the_collector_is_tuned_once_the_runner_is_up(restored: None) -> None:
    made_at_start_up = [[n] for n in range(1000)]  # containers the collector tracks
    default = gc.get_threshold()

    tune_collector()

    assert gc.get_threshold() == (YOUNG_THRESHOLD, default[1], default[2])
    assert gc.get_freeze_count() >= len(made_at_start_up)
    collected = {id(x) for x in gc.get_objects()}  # what later collections look at
    assert not any(id(x) in collected for x in made_at_start_up)
