"""The pure parts of a superstep.

`RunDriver._superstep` runs them around what is not pure (the Execute calls,
the commit): `plan` (who gets what), `collect` (what the answers add up to),
`routing.route` (where the messages they sent go) and `RunState.advance`
(the state after). Each is a function of its inputs, tested directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stepline.v1 import events_pb2, executor_pb2, payload_pb2, workflow_pb2

from ..statuses import is_running
from . import events as ev
from .state import RunState
from .timers import InvalidTimer, armed, is_timer
from .validation import ID_LENGTH, short, valid_id

E = events_pb2
Mode = workflow_pb2.CheckpointPolicy


@dataclass
class Delivery:
    """What superstep `step` delivers: each invoked executor's messages (in
    send order) and answered requests."""

    step: int
    inboxes: dict[str, list[payload_pb2.Message]]
    responses: dict[str, list[payload_pb2.InputResponse]]
    invoked: list[str]  # in the graph's executor order

    def started(self) -> list[events_pb2.Event]:
        """The superstep's first events: it started, and whom it invokes."""
        step = self.step
        events = [ev.event(E.EVENT_KIND_SUPERSTEP_STARTED, step)]
        for x in self.invoked:
            events.append(ev.event(E.EVENT_KIND_EXECUTOR_INVOKED, step, executor_id=x))
        return events


def plan(state: RunState) -> Delivery:
    """The next superstep's delivery: everything routed or answered so far."""
    inboxes: dict[str, list[payload_pb2.Message]] = {}
    for message in state.pending:
        inboxes.setdefault(message.target_id, []).append(message)
    responses: dict[str, list[payload_pb2.InputResponse]] = {}
    for answer in state.pending_responses:
        responses.setdefault(answer.request.executor_id, []).append(answer)
    invoked = [x for x in state.graph.nodes if x in inboxes or x in responses]
    return Delivery(state.superstep + 1, inboxes, responses, invoked)


def failed_events(step: int, errors: Sequence[payload_pb2.ErrorInfo]) -> list[events_pb2.Event]:
    """One EXECUTOR_FAILED event for each executor's error (`executor_id` set)."""
    return [
        ev.event(E.EVENT_KIND_EXECUTOR_FAILED, step, executor_id=e.executor_id, error=e)
        for e in errors
    ]


class CollectError(Exception):
    """The executors' answers cannot be taken as they are: the run fails with `error`."""

    def __init__(self, error: payload_pb2.ErrorInfo) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass
class Collected:
    """What the executors of one superstep produced, taken together."""

    # In the log only if the superstep completes: a failure before means it
    # runs again on resume, and would log them twice.
    events: list[events_pb2.Event]
    sent: list[payload_pb2.Message]  # `source_id` set, in answer order
    timers: list[payload_pb2.Message]  # sent with a delay: `deliver_at` set, in answer order
    shared_state: dict[str, payload_pb2.Payload]
    requests: dict[str, payload_pb2.InputRequest]  # every open request, new ones last


def collect(
    run_id: str,
    step: int,
    answers: Sequence[tuple[str, executor_pb2.ExecuteResponse]],
    shared_state: Mapping[str, payload_pb2.Payload],
    open_requests: Mapping[str, payload_pb2.InputRequest],
    now: float = 0.0,
) -> Collected:
    """Take the (executor id, answer) pairs of superstep `step` together, in
    order: their events, the messages they sent (those with a delay as
    timers, armed at `now`, seconds since the epoch), the shared state after
    their writes, and the open requests with theirs added. The inputs are
    not changed. Raises `CollectError` for a request id that is malformed or
    still open, or a delay the runner refuses."""
    collected = Collected([], [], [], dict(shared_state), dict(open_requests))
    events = collected.events
    for x, answer in answers:
        events.append(ev.event(E.EVENT_KIND_EXECUTOR_COMPLETED, step, executor_id=x))
        # Each field read once, and skipped when empty (most are): a repeated
        # field's read makes a new wrapper every time.
        if outputs := answer.outputs:
            events += [ev.event(E.EVENT_KIND_OUTPUT, step, executor_id=x, data=p) for p in outputs]
        if custom := answer.events:
            events += [
                ev.event(E.EVENT_KIND_CUSTOM, step, executor_id=x, name=c.name, data=c.data)
                for c in custom
            ]
        if asked_for := answer.requests:
            for i, asked in enumerate(asked_for):
                request = open_request(run_id, step, x, i, asked, collected.requests)
                collected.requests[request.request_id] = request
                events.append(
                    ev.event(E.EVENT_KIND_REQUEST_INFO, step, executor_id=x, request=request)
                )
        if writes := answer.shared_state_writes:
            for write in writes:
                if write.delete:
                    collected.shared_state.pop(write.key, None)
                else:
                    collected.shared_state[write.key] = write.value
        for message in answer.sent:
            sent = payload_pb2.Message()
            sent.CopyFrom(message)
            sent.source_id = x
            if is_timer(sent):
                collected.timers.append(timer(sent, now, x))
            else:
                collected.sent.append(sent)
    return collected


def timer(message: payload_pb2.Message, now: float, executor_id: str) -> payload_pb2.Message:
    """`timers.armed`, its refusal as the run's error."""
    try:
        return armed(message, now)
    except InvalidTimer as exc:
        raise CollectError(
            payload_pb2.ErrorInfo(
                type="InvalidTimer",
                message=f"executor {executor_id!r} sent a message of type "
                f"{short(message.payload.type_name)} with a delay the runner refuses: {exc}",
                executor_id=executor_id,
            )
        ) from exc


def open_request(
    run_id: str,
    step: int,
    executor_id: str,
    position: int,
    asked: payload_pb2.InputRequest,
    open_requests: Mapping[str, payload_pb2.InputRequest],
) -> payload_pb2.InputRequest:
    """The request an executor made (the `position`-th of its answer) as the
    run keeps it: with its id (one is made up if it gave none), executor and
    superstep. Raises `CollectError` for an id that is malformed or one of
    `open_requests`."""
    request = payload_pb2.InputRequest()
    request.CopyFrom(asked)
    request.request_id = asked.request_id or f"{run_id}:{step}:{executor_id}:{position}"
    request.executor_id = executor_id
    request.superstep = step
    if not valid_id(request.request_id):
        raise CollectError(
            payload_pb2.ErrorInfo(
                type="InvalidRequestId",
                message=f"executor {executor_id!r} asked with request id "
                f"{short(request.request_id)}: ids are 1-{ID_LENGTH} printable ASCII "
                "characters without spaces",
                executor_id=executor_id,
            )
        )
    if request.request_id in open_requests:
        raise CollectError(
            payload_pb2.ErrorInfo(
                type="DuplicateRequestId",
                message=f"executor {executor_id!r} asked again with request id "
                f"{request.request_id!r}, which is still open; ids must be unique",
                executor_id=executor_id,
            )
        )
    return request


def limit_error(max_supersteps: int) -> payload_pb2.ErrorInfo:
    """The run's error when it reaches its superstep limit with work left."""
    return payload_pb2.ErrorInfo(
        type="SuperstepLimitExceeded",
        message=f"the run reached its limit of {max_supersteps} supersteps with messages "
        "still to deliver; raise max_supersteps in the workflow definition if the loop is "
        "intended",
    )


def warning_events(step: int, warnings: Sequence[tuple[str, str]]) -> list[events_pb2.Event]:
    """A WARNING event for each (executor id, text) routing reported."""
    return [ev.event(E.EVENT_KIND_WARNING, step, executor_id=x, message=t) for x, t in warnings]


def checkpoint_due(policy: workflow_pb2.CheckpointPolicy, step: int, status: E.RunStatus) -> bool:
    """Whether superstep `step`, leaving the run in `status`, ends with a
    checkpoint: always unless the policy is sparse, and always when the run
    stops running (it waits for input, or completed)."""
    if policy.mode in (Mode.MODE_UNSPECIFIED, Mode.MODE_EVERY_SUPERSTEP) or not is_running(status):
        return True
    return policy.mode == Mode.MODE_EVERY_N_SUPERSTEPS and step % policy.every_n == 0
