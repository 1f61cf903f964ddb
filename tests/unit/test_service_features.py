"""`ServiceFeatures`: one Describe per endpoint and incarnation, and `known`,
what Execute reads without waiting."""

from __future__ import annotations

from stepline.v1 import executor_pb2
from stepline_runner.engine.features import Advertised, ServiceFeatures


class Describing:
    """Answers Describe as incarnation `incarnation`, counting the calls."""

    def __init__(self) -> None:
        self.incarnation = "one"
        self.asked = 0

    async def describe(
        self, endpoint: str, timeout: float | None = None
    ) -> executor_pb2.DescribeResponse:
        self.asked += 1
        answer = executor_pb2.DescribeResponse(incarnation_id=self.incarnation)
        answer.features.state_with_execute = True
        return answer


async def test_known_is_what_describe_said_until_another_incarnation_replies() -> None:
    service = Describing()
    features = ServiceFeatures(service)  # type: ignore[arg-type]
    assert features.known("h:1") is None and service.asked == 0

    said = Advertised("one", state_with_execute=True)
    assert await features.of("h:1") == said and features.known("h:1") == said
    assert await features.of("h:1") == said and service.asked == 1
    features.seen("h:1", "one")
    assert features.known("h:1") == said

    features.seen("h:1", "two")  # restarted, maybe as another build
    assert features.known("h:1") is None
    service.incarnation = "two"
    assert await features.of("h:1") == Advertised("two", state_with_execute=True)
    assert service.asked == 2 and features.known("h:2") is None
