"""Requests for outside input: checking responses and handing them to a run."""

from __future__ import annotations

from collections.abc import Mapping

from stepline.v1 import events_pb2, payload_pb2

from . import events as ev
from .errors import FailedPrecondition, InvalidArgument, NotFound, Reason
from .state import RunState
from .validation import check_payload, short


def accept_responses(
    state: RunState, responses: Mapping[str, payload_pb2.Payload], answered: set[str]
) -> list[payload_pb2.InputResponse]:
    """Move answered requests from pending to the responses the next superstep
    delivers, and return those. Every response is checked before anything
    changes; `answered` holds the request ids the run answered before."""
    if not responses:
        raise InvalidArgument(
            "responses is empty: map at least one request_id to a payload",
            reason=Reason.NO_RESPONSES,
            context={"run_id": state.run_id},
        )
    for request_id, payload in responses.items():
        check_payload(payload, f"response to {short(request_id)}")
        request = state.pending_requests.get(request_id)
        if request is None:
            if request_id in answered:
                raise FailedPrecondition(
                    f"request {short(request_id)} was already answered",
                    reason=Reason.ALREADY_ANSWERED,
                    context={"run_id": state.run_id, "request_id": request_id},
                )
            pending = short(", ".join(sorted(state.pending_requests)), 200) or "none"
            raise NotFound(
                f"run {state.run_id!r} has no request {short(request_id)}; pending: {pending}",
                reason=Reason.REQUEST_NOT_FOUND,
                context={"run_id": state.run_id, "request_id": request_id},
            )
        if request.response_type and payload.type_name != request.response_type:
            raise InvalidArgument(
                f"request {short(request_id)} wants a response of type "
                f"{request.response_type!r}, not {short(payload.type_name)}",
                reason=Reason.RESPONSE_TYPE_MISMATCH,
                context={"run_id": state.run_id, "request_id": request_id},
            )
    accepted = [
        payload_pb2.InputResponse(request=state.pending_requests.pop(request_id), response=payload)
        for request_id, payload in responses.items()
    ]
    state.pending_responses.extend(accepted)
    return accepted


def received_events(
    superstep: int, accepted: list[payload_pb2.InputResponse]
) -> list[events_pb2.Event]:
    """A RESPONSE_RECEIVED event for each accepted response, in order."""
    return [
        ev.event(
            events_pb2.EVENT_KIND_RESPONSE_RECEIVED,
            superstep,
            executor_id=a.request.executor_id,
            request=a.request,
            data=a.response,
        )
        for a in accepted
    ]
