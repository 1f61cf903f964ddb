"""ListPendingRequests' pages: where each starts, whatever was answered or
asked in between, and the tokens it refuses."""

from __future__ import annotations

import base64

import pytest

from stepline.v1 import payload_pb2
from stepline_runner.engine.errors import InvalidArgument
from stepline_runner.engine.request_pages import request_page


def asked(*ids_by_superstep: tuple[int, str]) -> list[payload_pb2.InputRequest]:
    return [payload_pb2.InputRequest(request_id=i, superstep=s) for s, i in ids_by_superstep]


def ids(requests: list[payload_pb2.InputRequest]) -> list[str]:
    return [r.request_id for r in requests]


def test_pages_follow_each_other_to_the_last() -> None:
    requests = asked((1, "a"), (1, "b"), (2, "c"), (3, "d"), (3, "e"))
    seen, token, pages = [], "", 0
    while True:
        page, token = request_page(requests, 2, token)
        seen += ids(page)
        pages += 1
        if not token:
            break
    assert (seen, pages) == (["a", "b", "c", "d", "e"], 3)
    assert request_page(requests, 0, "") == (requests, "")  # the default page: 50
    assert request_page([], 5, "") == ([], "")


def test_a_page_starts_after_its_token_whatever_changed_in_between() -> None:
    requests = asked((1, "a"), (1, "b"), (2, "c"), (2, "d"))
    _, token = request_page(requests, 3, "")  # a, b, c
    # c answered, e asked: the next page starts at c's superstep, so d is not skipped.
    changed = asked((1, "a"), (1, "b"), (2, "d"), (4, "e"))
    assert ids(request_page(changed, 5, token)[0]) == ["d", "e"]
    # a answered: the next page still starts after c.
    assert ids(request_page(asked((1, "b"), (2, "c"), (2, "d")), 5, token)[0]) == ["d"]
    # Everything answered: an empty last page.
    assert request_page([], 5, token) == ([], "")


@pytest.mark.parametrize(
    "token",
    [
        "garbage!",
        base64.urlsafe_b64encode(b"no superstep").decode(),
        base64.urlsafe_b64encode(b"-1:a").decode(),
        base64.urlsafe_b64encode(b"1:").decode(),
        base64.urlsafe_b64encode(b"1:with space").decode(),
        base64.urlsafe_b64encode(b"1:" + b"x" * 10_000).decode(),
    ],
)
def test_a_token_the_runner_did_not_issue_is_refused_briefly(token: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        request_page(asked((1, "a")), 1, token)
    assert refused.value.reason == "INVALID_PAGE_TOKEN"
    assert "is not one this runner issued" in str(refused.value)
    assert len(str(refused.value)) < 200


def test_a_negative_page_size_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="page_size must be 0 or more"):
        request_page(asked((1, "a")), -1, "")
