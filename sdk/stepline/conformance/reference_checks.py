"""Checks of the `reference` executor type against its specification (README,
"The reference executor"): responses to requests, shared-state reads and
writes, fan-in batches, a state over the size cap and a call past its
deadline, a cancelled Session call. Unlike the generic checks, these know what the type must do, so
they compare with the text.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc

from stepline import payloads
from stepline.conformance.checks import Check
from stepline.conformance.probe import CheckFailed, Payload, Probe, RpcFailed, X, show
from stepline.limits import MAX_STATE_BYTES, SESSION_CANCELS
from stepline.v1 import executor_pb2, payload_pb2

REFERENCE_TYPE = "reference"
STATE_TYPE = f"{REFERENCE_TYPE}.state"


def ref(op: str, value: int = 0, key: str = "") -> Payload:
    """A `Ref` message as the specification writes it."""
    return payloads.encode({"key": key, "op": op, "value": value}, "Ref")


def expected_state(log: list[str], total: int, pad: str = "") -> bytes:
    """The state bytes the specification prescribes."""
    return json.dumps({"log": log, "pad": pad, "total": total}, separators=(",", ":")).encode()


def _value(payload: Payload) -> tuple[str, Any]:
    try:
        return payload.type_name, payloads.json_value(payload)
    except payloads.PayloadError as exc:
        raise CheckFailed(f"{show(payload)} is not a JSON payload: {exc}") from exc


async def _state_is(probe: Probe, run: str, log: list[str], total: int, what: str) -> None:
    state = await probe.state(run, X)
    want = expected_state(log, total)
    if (state.type_name, state.content_type or payloads.JSON, state.data) != (
        STATE_TYPE,
        payloads.JSON,
        want,
    ):
        raise CheckFailed(
            f"{what}: the state is {show(state)}, but the specification gives "
            f"{STATE_TYPE} {want.decode()} (JSON, sorted keys, no spaces)"
        )


def reference(probe: Probe) -> Probe:
    """A probe of the service's reference type."""
    return probe.for_type(REFERENCE_TYPE)


async def answers_requests(base: Probe) -> str:
    probe = reference(base)
    run = probe.new_run()
    asked = await probe.execute(run, X, [ref("ask", 5, "q")])
    if len(asked.requests) != 1:
        raise CheckFailed(f"a Ref ask gave {len(asked.requests)} requests, not 1")
    (request,) = asked.requests
    want = ("Ref", {"key": "q", "op": "ask", "value": 5})
    if _value(request.data) != want or request.response_type != "RefAnswer":
        raise CheckFailed(
            f"a Ref ask asked with {show(request.data)} for {request.response_type!r}, "
            f"but the specification gives Ref {json.dumps(want[1])} for 'RefAnswer'"
        )
    if asked.outputs or asked.sent:
        raise CheckFailed("a Ref ask must neither send nor yield")
    kept = payload_pb2.InputRequest()
    kept.CopyFrom(request)
    kept.request_id = request.request_id or f"{run}:1:{X}:0"
    kept.executor_id, kept.superstep = X, 1
    answer = payload_pb2.InputResponse(
        request=kept, response=payloads.encode({"value": 3}, "RefAnswer")
    )
    # Responses first, then messages: the add comes after the answer.
    answered = await probe.execute(run, X, [ref("add", 10)], superstep=2, responses=[answer])
    outputs = [_value(o) for o in answered.outputs]
    if outputs != [("RefOutput", {"total": 3})]:
        raise CheckFailed(
            f'the answer RefAnswer {{"value": 3}} yielded {outputs}, but the specification '
            'gives one RefOutput {"total": 3}'
        )
    await _state_is(probe, run, ["ask:5", "answer:5:3", "add:10"], 13, "after ask, answer, add")
    return "a Ref ask asked for a RefAnswer; the answer reached its handler before the messages"


async def reads_and_writes_shared_state(base: Probe) -> str:
    probe = reference(base)
    run = probe.new_run()
    shared = {"k": payloads.encode(7)}
    messages = [ref("write", 4, "k"), ref("read", key="k"), ref("read", key="absent")]
    response = await probe.execute(run, X, messages, shared_state=shared)
    writes = [(w.key, w.delete, *_value(w.value)) for w in response.shared_state_writes]
    if writes != [("k", False, "integer", 4)]:
        raise CheckFailed(
            f"a Ref write of k=4 wrote {writes}, but the specification gives one write "
            "of key 'k', type 'integer', value 4"
        )
    log = ["write:k:4", "read:k:7", "read:absent:0"]
    await _state_is(
        probe, run, log, 7, "after write k=4, read k (7 in the shared state), read absent"
    )
    return (
        "a write came back as a shared-state write; reads saw the state as of the superstep's start"
    )


async def takes_fan_in_batches(base: Probe) -> str:
    probe = reference(base)
    run = probe.new_run()
    batch = payload_pb2.MessageBatch()
    for source, value in (("a", 2), ("b", 5)):
        batch.messages.add(source_id=source, target_id=X, payload=ref("add", value))
    response = await probe.execute(run, X, [payloads.encode(batch)])
    outputs = [_value(o) for o in response.outputs]
    if outputs != [("RefOutput", {"total": 7})] or response.sent:
        raise CheckFailed(
            f"a MessageBatch of two Refs (2 and 5) yielded {outputs} and sent "
            f'{len(response.sent)}, but the specification gives one RefOutput {{"total": 7}}'
        )
    await _state_is(probe, run, ["batch:2:7"], 7, "after a batch of 2 and 5")
    return "a MessageBatch of two Refs was taken as one batch, in order"


async def refuses_a_state_over_the_cap(base: Probe) -> str:
    probe = reference(base)
    run = probe.new_run()
    await probe.execute(run, X, [ref("pad", MAX_STATE_BYTES)])
    try:
        details = await probe.expect_status(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"SaveCheckpoint of a state of over {MAX_STATE_BYTES:,} bytes (the cap)",
            probe.save(run, X),
        )
    finally:
        await probe.end_run(run)  # let go of the padding at once
    return f"a state over the cap -> RESOURCE_EXHAUSTED: {details[:100]}"


# The longest Ref wait the specification allows.
MAX_WAIT_MS = 60_000
# A Ref wait this long under a deadline this long; then the state is read
# again once the wait would have ended, and a margin more.
WAIT_MS, DEADLINE_MS, MARGIN_MS = 600, 200, 400


async def leaves_a_restored_state_to_a_late_call(base: Probe) -> str:
    """What a runner relies on once a call is past its own deadline: the
    RestoreCheckpoint it sends then is not overwritten by that call."""
    probe = reference(base)
    run = probe.new_run()
    await probe.execute(run, X, [ref("add", 1)])
    saved = await probe.state(run, X)
    request = probe.execute_request(run, X, [ref("wait", WAIT_MS)])
    await probe.expect_status(
        grpc.StatusCode.DEADLINE_EXCEEDED,
        f"Execute of a Ref wait of {WAIT_MS} ms under a {DEADLINE_MS} ms deadline",
        probe.call("Execute", request, timeout=DEADLINE_MS / 1000),
    )
    await probe.restore(run, X, saved)
    # The suite cannot see the handler: it waits until the wait would have ended.
    await asyncio.sleep((WAIT_MS + MARGIN_MS) / 1000)
    what = f"after a restore under a Ref wait of {WAIT_MS} ms past its deadline"
    await _state_is(probe, run, ["add:1"], 1, what)
    return "a Ref wait past its deadline left the state a RestoreCheckpoint put back as it was"


# A Session call the runner gives up: `SessionRequest.cancel`.
#
# A service whose Session stream says in its initial metadata that it takes
# cancels (`stepline-session-cancel: 1`, executor.proto) must stop the
# handler of a call it is asked to cancel and send no reply for it, as a unary
# Execute's handler stops when its caller cancels it. The check cancels a
# reference `Ref` wait of a minute, beside a short one, and ends its side of
# the stream: a service that stopped the cancelled handler answers the short
# call and then ends the stream, with no reply to the cancelled one; one that
# did not stop it has the call still running, and the stream is still open
# when the check gives up (the target's timeout); one that ends the stream
# without waiting for its calls, or stops them all, leaves the short call
# unanswered. A stream that does not say so passes: the runner never sends it
# a cancel.
BESIDE_MS = 1000


async def stops_a_cancelled_call(base: Probe) -> str:
    probe = reference(base)
    if not (await probe.describe()).features.session:
        return "not advertised (optional): no Session stream"
    quick = probe.execute_request(probe.new_run(), X, [ref("add", 1)])
    slow = probe.execute_request(probe.new_run(), X, [ref("wait", MAX_WAIT_MS)])
    beside = probe.execute_request(probe.new_run(), X, [ref("wait", BESIDE_MS)])
    stream = probe.open_session(3, slack=BESIDE_MS / 1000)
    deadline = probe.target.timeout * 3 + BESIDE_MS / 1000
    try:
        # The metadata has come by the first reply, whenever a service sends it.
        await stream.write(executor_pb2.SessionRequest(call_id=1, execute=quick))
        if not isinstance(await stream.read(), executor_pb2.SessionReply):  # grpc.aio.EOF
            raise CheckFailed("the Session stream ended before answering call 1")
        if SESSION_CANCELS not in tuple(await stream.initial_metadata()):
            return "not said (optional): the stream takes no cancels"
        await stream.write(executor_pb2.SessionRequest(call_id=2, execute=slow))
        await stream.write(executor_pb2.SessionRequest(call_id=3, execute=beside))
        await stream.write(executor_pb2.SessionRequest(call_id=2, cancel=True))
        await stream.done_writing()
        beside_reply = None
        while isinstance(reply := await stream.read(), executor_pb2.SessionReply):
            if reply.call_id == 2:
                raise CheckFailed(
                    "a cancelled Session call was answered (status "
                    f"{reply.code} {reply.message[:100]!r}): a cancelled call sends no reply"
                )
            if reply.call_id == 3:
                beside_reply = reply
        if beside_reply is None:
            raise CheckFailed(
                f"the Session stream ended without answering call 3 (a {BESIDE_MS} ms Ref wait "
                "made beside the cancelled call): a cancel stops its own call only, and the "
                "stream ends once the calls it did not cancel are answered"
            )
        if beside_reply.code:
            raise CheckFailed(
                f"call 3 (a {BESIDE_MS} ms Ref wait made beside the cancelled call) failed with "
                f"status {beside_reply.code} {beside_reply.message[:100]!r}: a cancel stops "
                "its own call only"
            )
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            raise CheckFailed(
                f"a Session call of a {MAX_WAIT_MS // 1000} s Ref wait, cancelled, and the end of "
                "the requests did not end the stream within the check's deadline "
                f"({deadline:g} s): the cancelled call's handler must stop (the "
                "stream says it takes cancels)"
            ) from exc
        raise RpcFailed("Session", exc.code(), exc.details() or "") from exc
    finally:
        stream.cancel()
    return "a cancelled Ref wait of a minute stopped, with no reply; the call beside it ended"


REFERENCE_CHECKS: tuple[Check, ...] = (
    Check("reference-responses", "responses reach the response handler", answers_requests),
    Check(
        "reference-shared-state", "shared state is read and written", reads_and_writes_shared_state
    ),
    Check("reference-fan-in", "fan-in batches are taken as one", takes_fan_in_batches),
    Check(
        "reference-state-cap", "a state over the size cap is refused", refuses_a_state_over_the_cap
    ),
    Check(
        "reference-late-call",
        "a call past its deadline leaves a restored state alone",
        leaves_a_restored_state_to_a_late_call,
    ),
    Check(
        "reference-session-cancel",
        "a cancelled Session call stops, with no reply",
        stops_a_cancelled_call,
    ),
)

__all__ = ["REFERENCE_CHECKS", "REFERENCE_TYPE", "expected_state", "ref"]
