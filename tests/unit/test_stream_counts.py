"""Streams of events are counted per principal and held to `--limit watchers`."""

from __future__ import annotations

import pytest

from stepline_runner.engine.watchers import StreamCounts
from stepline_runner.errors import Reason, ResourceExhausted


def test_a_principal_holds_at_most_its_limit_and_gets_each_back_as_it_ends() -> None:
    counts = StreamCounts(2)
    with counts.held("alice"), counts.held("alice"):
        with (
            pytest.raises(
                ResourceExhausted, match="principal 'alice' has 2 event streams open"
            ) as full,
            counts.held("alice"),
        ):
            pass
        assert full.value.reason == Reason.TOO_MANY_WATCHERS
        assert full.value.context == {"limit": "2"}
        with counts.held("bob"):  # each principal its own count
            pass
    with counts.held("alice"), counts.held("alice"):  # both given back
        pass


def test_a_stream_that_fails_gives_its_place_back() -> None:
    counts = StreamCounts(1)
    with pytest.raises(RuntimeError), counts.held(""):
        raise RuntimeError("the stream broke")
    with (
        counts.held(""),
        pytest.raises(ResourceExhausted, match="callers without credentials"),
        counts.held(""),
    ):
        pass
