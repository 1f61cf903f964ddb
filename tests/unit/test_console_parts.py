"""The web console's pure parts: reading an answer, telling loopback apart."""

from __future__ import annotations

import pytest

from stepline.console.api import parse_answer
from stepline.console.auth import is_loopback


def test_an_answer_is_a_request_id_and_json_text() -> None:
    assert parse_answer({"request_id": "r1", "response": '{"a": [1, 2]}'}) == ("r1", {"a": [1, 2]})
    assert parse_answer({"request_id": "r1", "response": "null"}) == ("r1", None)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"request_id": "r", "response": "{"}, "not JSON: Expecting property name"),
        ({"request_id": "", "response": "1"}, "request_id is missing"),
        ({"request_id": 3, "response": "1"}, "request_id is missing"),
        ({"request_id": "r", "response": 1}, "the answer's JSON text"),
        ("text", "a JSON object"),
    ],
)
def test_a_bad_answer_says_what_is_wrong(body: object, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_answer(body)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.168.1.4", False),
        ("example.com", False),
    ],
)
def test_only_loopback_hosts_skip_the_login(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
