"""Watch responses built from each event's bytes: the same message the
generated code would send, each recent event serialised once, and watchers
of one run paced by their number."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from stepline.v1 import events_pb2, payload_pb2, runner_pb2
from stepline_runner.engine.hub import EventHub
from stepline_runner.engine.pacing import PACE_MAX, PACE_PER_WATCHER, pace_of
from stepline_runner.engine.replies import Batch, frame, varint


def events(run_id: str, sizes: list[int], first: int = 1) -> list[events_pb2.Event]:
    return [
        events_pb2.Event(
            run_id=run_id,
            sequence=first + i,
            kind=events_pb2.EVENT_KIND_OUTPUT,
            data=payload_pb2.Payload(type_name="t", data=b"x" * size),
        )
        for i, size in enumerate(sizes)
    ]


@pytest.mark.parametrize("n", [0, 1, 127, 128, 300, 16_383, 16_384, 2**21, 2**35])
def test_varint_is_protobufs(n: int) -> None:
    # `sequence` (field 2, an int64) is its tag, 0x10, then n as a varint.
    expected = events_pb2.Event(sequence=n).SerializeToString()
    assert b"\x10" + varint(n) == (expected or b"\x10\x00")


@pytest.mark.parametrize("response", [runner_pb2.WatchRunResponse, runner_pb2.WatchRunsResponse])
def test_a_response_of_bytes_is_the_generated_message(response: Any) -> None:
    batch = events("r", [0, 10, 120, 200, 20_000, 3_000_000])
    data = Batch.of(batch).wire
    assert response.FromString(data) == response(events=batch)
    assert data == response(events=batch).SerializeToString()


def test_a_recent_event_is_serialised_once_and_forgotten_with_the_tail() -> None:
    hub = EventHub(tail_size=3)
    published = events("r", [5, 5, 5, 5])
    hub.publish("r", "w", published[:2])
    first = hub.frame(published[0])
    assert hub.frame(published[0]) is first
    assert first == frame(published[0].SerializeToString())
    hub.publish("r", "w", published[2:])  # the tail keeps the last 3
    assert hub.frame(published[0]) is not first  # no longer held: made anew
    assert hub.frame(published[3]) is hub.frame(published[3])
    assert hub.frame(events("other", [1])[0]) == frame(events("other", [1])[0].SerializeToString())


def test_watchers_of_one_run_are_paced_by_their_number() -> None:
    hub = EventHub()
    with hub.watching("r"):
        assert hub.pace("r") == 0  # a lone watcher is never held back
        with hub.watching("r"), hub.watching("r"), hub.watching("other"):
            assert hub.pace("r") == pytest.approx(2 * PACE_PER_WATCHER)
            assert hub.pace("other") == 0
        with contextlib.ExitStack() as many:
            for _ in range(1000):
                many.enter_context(hub.watching("r"))
            assert hub.pace("r") == PACE_MAX
    assert hub.pace("r") == 0


def test_the_pace_is_the_stated_bound_min_of_n_times_2_ms_and_200_ms() -> None:
    # README ("Runs, checkpoints and events") and hub.py state it: a change here changes them.
    assert pace_of(1) == 0
    assert pace_of(11) == pytest.approx(0.02)
    assert pace_of(100) == pytest.approx(0.198)
    assert pace_of(101) == pace_of(10_000) == pytest.approx(0.2)
