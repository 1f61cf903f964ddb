"""What `RunnerClient.run` and `wait` return: `RunResult`, with `OpenRequest`s."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from stepline import payloads
from stepline.v1 import events_pb2, payload_pb2, runner_pb2

WAITING = events_pb2.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS


@dataclass(frozen=True)
class OpenRequest:
    """A request for input the run waits on; answer it by `request_id`
    (`RunnerClient.send_responses`)."""

    request_id: str
    executor_id: str
    #: The request's data: decoded when its type was among `request_types`,
    #: else the `Payload` as it travelled.
    data: Any
    #: The type name the answer must carry.
    response_type: str
    superstep: int

    @classmethod
    def of(cls, request: payload_pb2.InputRequest, types: dict[str, Any]) -> OpenRequest:
        """An open request from its message, its data decoded when `types` names its type."""
        tp = types.get(request.data.type_name)
        data = payloads.decode(request.data, tp) if tp is not None else request.data
        return cls(
            request.request_id, request.executor_id, data, request.response_type, request.superstep
        )


@dataclass
class RunResult:
    """Where a run stands when `run`/`wait` return: it completed, or it waits
    for input (`waiting`, with its `requests`). (A run that failed or was
    cancelled raises `RunFailedError` instead.)"""

    run: runner_pb2.Run
    outputs: list[Any] = field(default_factory=list)
    events: list[events_pb2.Event] = field(default_factory=list)
    #: The open requests, oldest first; empty unless the run waits for input.
    requests: list[OpenRequest] = field(default_factory=list)

    @property
    def status(self) -> int:
        """`RUN_STATUS_COMPLETED` or `RUN_STATUS_IDLE_WITH_PENDING_REQUESTS`."""
        return self.run.status

    @property
    def waiting(self) -> bool:
        """True when the run waits for answers to `requests`."""
        return self.run.status == WAITING


def types_by_name(types: Iterable[Any]) -> dict[str, Any]:
    """Python types by the type name their values travel under."""
    return {payloads.type_name_of(tp): tp for tp in types}
