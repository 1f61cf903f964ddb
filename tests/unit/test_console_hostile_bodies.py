"""Hostile requests to the console: posts are read up to their cap and no
further, JSON nested too deeply is a bad request, not a server error, and a
Last-Event-ID past int64 does not break the stream."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

import pytest
from starlette.requests import Request

from stepline.console import api, streams
from stepline.console.api import MAX_ANSWER_BYTES, parse_answer
from stepline.console.auth import MAX_LOGIN_BYTES, LoginRequired
from stepline.v1 import runner_pb2


def receiver(
    chunks: Iterator[bytes],
) -> tuple[Callable[[], Awaitable[dict[str, object]]], list[int]]:
    """An ASGI receive giving a body in `chunks`; the list counts those read."""
    read: list[int] = []

    async def receive() -> dict[str, object]:
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        read.append(len(chunk))
        return {"type": "http.request", "body": chunk, "more_body": True}

    return receive, read


def posted(chunks: Iterator[bytes]) -> tuple[Request, list[int]]:
    """A JSON post whose body comes in `chunks`; the list counts those read."""
    receive, read = receiver(chunks)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/runs/r/answer",
        "headers": [(b"content-type", b"application/json")],
    }
    return Request(scope, receive), read


async def test_a_body_over_the_cap_is_refused_before_it_is_all_read() -> None:
    request, read = posted(iter([b"x" * 65536] * 64))  # 4 MiB, four times the cap
    with pytest.raises(ValueError, match=f"over {MAX_ANSWER_BYTES} bytes"):
        await api._json_body(request)
    assert sum(read) <= MAX_ANSWER_BYTES + 65536


async def test_json_nested_too_deeply_is_a_bad_request() -> None:
    request, _ = posted(iter([b"[" * 200_000]))
    with pytest.raises(ValueError, match="too deeply"):
        await api._json_body(request)
    with pytest.raises(ValueError, match="too deeply"):
        parse_answer({"request_id": "r", "response": "[" * 200_000})


async def test_the_login_page_reads_a_form_up_to_4_kib_before_anyone_logged_in() -> None:
    async def app(scope: object, receive: object, send: object) -> None:
        raise AssertionError("nothing gets past the login")

    receive, read = receiver(iter([b"token=" + b"x" * 65536] * 64))
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/login", "headers": [], "query_string": b""}
    await LoginRequired(app, "secret")(scope, receive, send)

    assert sent[0]["status"] == 413
    assert sum(read) <= MAX_LOGIN_BYTES + 65536 + 6


def test_a_last_event_id_past_int64_asks_for_nothing_more() -> None:
    scope = {"type": "http", "headers": [(b"last-event-id", b"9" * 30)], "query_string": b""}
    after = streams._after(Request(scope))
    assert after == streams.MAX_SEQUENCE
    runner_pb2.WatchRunRequest(run_id="r", after_sequence=after)  # fits the field
