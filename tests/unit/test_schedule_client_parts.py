"""The SDK's and the command's parts of schedules that need no runner: the
spec `create_schedule` sends, and `stepline schedule create`'s durations."""

from __future__ import annotations

from datetime import timedelta

import pytest
import typer

from stepline import payloads
from stepline._schedules import schedule_spec
from stepline.cli.schedules import duration
from stepline.v1 import runner_pb2 as R


def test_a_spec_carries_every_option() -> None:
    spec = schedule_spec(
        "s",
        "w",
        {"n": 1},
        cron="0 9 * * 1-5",
        time_zone="Asia/Tokyo",
        jitter=timedelta(seconds=1.5),
        overlap="queue",
        catch_up="one",
        paused=True,
    )
    assert (spec.schedule_id, spec.workflow_id, spec.cron, spec.time_zone) == (
        "s",
        "w",
        "0 9 * * 1-5",
        "Asia/Tokyo",
    )
    assert payloads.json_value(spec.input) == {"n": 1}
    assert (spec.jitter.seconds, spec.jitter.nanos) == (1, 500_000_000)
    assert (spec.overlap, spec.catch_up, spec.paused) == (
        R.SCHEDULE_OVERLAP_QUEUE,
        R.SCHEDULE_CATCH_UP_ONE,
        True,
    )
    every = schedule_spec("s", "w", 1, interval=timedelta(minutes=5))
    assert (every.WhichOneof("trigger"), every.interval.seconds) == ("interval", 300)
    assert every.overlap == R.SCHEDULE_OVERLAP_SKIP and every.catch_up == R.SCHEDULE_CATCH_UP_NONE


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({}, "exactly one of cron and interval"),
        ({"cron": "@daily", "interval": timedelta(seconds=1)}, "exactly one of cron and interval"),
        ({"cron": "@daily", "overlap": "sometimes"}, "overlap must be one of skip, queue, allow"),
        ({"cron": "@daily", "catch_up": "all"}, "catch_up must be one of none, one"),
    ],
)
def test_a_spec_refuses_what_the_runner_would(options: dict[str, object], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        schedule_spec("s", "w", 1, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("5m", 300), ("1.5h", 5400), ("2d", 172800), (" 1s", 1)]
)
def test_durations(text: str, seconds: float) -> None:
    assert duration(text, "--every") == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "5", "5 m", "-1s", "1w", "1e9s", "9" * 50 + "s"])
def test_bad_durations_are_usage_errors(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as exited:
        duration(text, "--every")
    assert exited.value.exit_code == 2
    assert "is not a duration such as 30s" in capsys.readouterr().err
