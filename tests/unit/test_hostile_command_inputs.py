"""Hostile values on the command line and in --limit are usage errors that say
what is wrong, never a traceback or a runner that takes nonsense; hostile data
the command shows is shown, not a traceback either."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer

from stepline.cli import inputs, output
from stepline.cli.context import MAX_FILE_BYTES, Connection
from stepline.conformance import suite
from stepline.conformance.suite import SetupError
from stepline.v1 import payload_pb2
from stepline_runner.engine.limits import Limits


def refused(capsys: pytest.CaptureFixture[str], call: object, *args: object) -> str:
    with pytest.raises(typer.Exit) as caught:
        call(*args)  # type: ignore[operator]
    assert caught.value.exit_code == 2
    return capsys.readouterr().err


def test_deeply_nested_json_input_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"a":' * 100_000 + "1" + "}" * 100_000)
    assert "nests its JSON too deeply" in refused(
        capsys, inputs.json_argument, f"@{deep}", "--input"
    )
    assert "too deeply" in refused(capsys, inputs.json_argument, "[" * 100_000, "--input")


def test_an_input_file_is_read_only_up_to_what_a_call_can_carry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inputs, "MAX_MESSAGE_BYTES", 1000)
    big = tmp_path / "big.json"
    big.write_text("[" + "0," * 1000 + "0]")
    assert "is over 1000 bytes" in refused(capsys, inputs.json_argument, f"@{big}", "--input")
    small = tmp_path / "small.json"
    small.write_text("[1, 2]")
    assert inputs.json_argument(f"@{small}", "--input") == [1, 2]


def test_an_age_reaching_before_the_year_one_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    message = refused(capsys, inputs.moment, "99999999d", "--since", now)
    assert "--since: '99999999d' reaches back before the year 1" in message


def test_a_limit_of_nan_is_refused() -> None:
    with pytest.raises(ValueError, match="must be positive, not nan"):
        Limits.parse(["cel_budget=nan"])


def test_a_token_file_of_two_lines_or_a_huge_ca_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tmp_path / "token"
    token.write_text("first\nsecond\n")
    message = refused(capsys, Connection(token_file=token).client)
    assert "a token is one line of printable ASCII characters" in message
    ca = tmp_path / "ca.pem"
    ca.write_bytes(b"\0" * (MAX_FILE_BYTES + 1))
    assert f"is over {MAX_FILE_BYTES} bytes" in refused(capsys, Connection(ca_file=ca).client)


def test_a_payload_nested_too_deeply_to_decode_is_shown_as_its_bytes() -> None:
    deep = payload_pb2.Payload(type_name="deep", data=b"[" * 100_000)
    assert output.payload_json(deep)["data"]  # base64, no traceback
    assert output.payload_text(deep) == "<100000 bytes application/json>"


def test_a_conformance_message_that_is_not_json_is_quoted_briefly() -> None:
    with pytest.raises(SetupError, match="is not JSON") as bad:
        suite._json("{" + "x" * 100_000)
    assert len(str(bad.value)) < 200
    with pytest.raises(SetupError, match="too deeply"):
        suite._json("[" * 100_000)
