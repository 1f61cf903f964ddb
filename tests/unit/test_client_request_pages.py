"""`RunnerClient.list_pending_requests` pages through ListPendingRequests, whose
pages may repeat a request answered between them (engine/request_pages.py):
the client returns each open request once."""

from __future__ import annotations

from typing import Any

from stepline.client import RunnerClient
from stepline.v1 import payload_pb2, runner_pb2


class _Pages:
    """ListPendingRequests as a runner answers it when the last request of
    the first page was answered before the second was asked for."""

    def __init__(self) -> None:
        self.tokens: list[str] = []

    async def ListPendingRequests(
        self, request: runner_pb2.ListPendingRequestsRequest, metadata: Any = None
    ) -> runner_pb2.ListPendingRequestsResponse:
        self.tokens.append(request.page_token)
        if not request.page_token:
            return response(["a", "b"], next_page_token="after-b")
        return response(["a", "c"])  # b answered: its superstep's first open one again


def response(ids: list[str], **fields: Any) -> runner_pb2.ListPendingRequestsResponse:
    requests = [payload_pb2.InputRequest(request_id=i, superstep=1) for i in ids]
    return runner_pb2.ListPendingRequestsResponse(requests=requests, **fields)


async def test_a_request_repeated_by_the_next_page_is_returned_once() -> None:
    client = RunnerClient("127.0.0.1:1")  # never dialled: the stub is replaced
    try:
        pages = _Pages()
        client._stub = pages  # type: ignore[assignment]
        found = await client.list_pending_requests("r", page_size=2)
    finally:
        await client.close()
    assert pages.tokens == ["", "after-b"]
    assert [r.request_id for r in found] == ["a", "b", "c"]
