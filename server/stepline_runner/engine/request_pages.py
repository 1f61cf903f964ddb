"""A run's open requests for input a page at a time (ListPendingRequests).

They are all at hand (in the run's latest checkpoint), oldest
first, so a page is a slice; what must hold across pages is where the next
one starts. Its token names the last request of the page before, by
superstep and id: the next page starts after that request even when others
were asked or answered in between. Should that very request have been
answered in between, the next page starts at the first open request of its
superstep: a request may then come twice, but none is skipped.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from stepline.v1 import payload_pb2

from .errors import InvalidArgument, Reason
from .validation import ID_LENGTH, clamp_page_size, short, valid_id

# A superstep, a colon and a request id, in base64: no token is longer.
MAX_TOKEN = 4 * (20 + 1 + ID_LENGTH) // 3 + 4

Request = payload_pb2.InputRequest


def request_page(
    requests: Sequence[Request], page_size: int, page_token: str
) -> tuple[list[Request], str]:
    """The page of `requests` (oldest first) that `page_token` starts at:
    `page_size` of them (0: 50, at most 1000), and the next page's token
    ("" after the last page)."""
    size = clamp_page_size(page_size)
    start = _start(requests, *_decode(page_token)) if page_token else 0
    page = list(requests[start : start + size])
    more = start + size < len(requests)
    return page, _encode(page[-1]) if more else ""


def _start(requests: Sequence[Request], superstep: int, request_id: str) -> int:
    for i, request in enumerate(requests):
        if request.request_id == request_id:
            return i + 1
    # Answered since: from the first of its superstep on.
    return next((i for i, r in enumerate(requests) if r.superstep >= superstep), len(requests))


def _encode(request: Request) -> str:
    return base64.urlsafe_b64encode(f"{request.superstep}:{request.request_id}".encode()).decode()


def _decode(token: str) -> tuple[int, str]:
    try:
        if len(token) > MAX_TOKEN:
            raise ValueError(token)
        superstep, _, request_id = base64.urlsafe_b64decode(token).decode().partition(":")
        step = int(superstep)
        if step < 0 or not valid_id(request_id):
            raise ValueError(token)
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise InvalidArgument(
            f"page_token {short(token)} is not one this runner issued",
            reason=Reason.INVALID_PAGE_TOKEN,
        ) from None
    return step, request_id
