"""The optional fast paths: the state returned with Execute's reply, and
Execute calls on a Session stream.

A service that advertises `features.state_with_execute` must give, with
`return_state`, the same results as without it and, in
`ExecuteResponse.checkpoint`, exactly what SaveCheckpoint answers right
after: the runner takes one for the other. One that advertises
`features.session` must answer Execute calls on the stream as the unary
calls, statuses included, and with `features.session_end_run` its EndRun
calls too (several runs in one message). A service that does not
advertise it passes (the unary path is all the contract requires), and must
then ignore `return_state`: the runner never sets it for such a service, but
an older build behind the same address may still get it once.
"""

from __future__ import annotations

import uuid

import grpc

from stepline import payloads
from stepline.conformance.probe import CheckFailed, Effects, Probe, X, Y, show
from stepline.conformance.probe import same_state as same
from stepline.v1 import executor_pb2


async def state_with_execute_matches(probe: Probe) -> str:
    advertised = (await probe.describe()).features.state_with_execute
    messages = list(probe.target.messages)
    fast, unary = probe.new_run(), probe.new_run()
    for superstep, message in enumerate(messages, start=1):
        with_state = await probe.execute(fast, X, [message], superstep=superstep, return_state=True)
        without = await probe.execute(unary, X, [message], superstep=superstep)
        if Effects.of(with_state) != Effects.of(without):
            raise CheckFailed(
                f"superstep {superstep}: Execute with return_state gave other results than "
                "without it: asking for the state must not change what a call does"
            )
        if not advertised:
            if with_state.HasField("checkpoint"):
                raise CheckFailed(
                    "Execute answered return_state with a checkpoint, but Describe does not "
                    "advertise features.state_with_execute: advertise it, or leave it unset"
                )
            continue
        if not with_state.HasField("checkpoint"):
            raise CheckFailed(
                f"superstep {superstep}: Describe advertises features.state_with_execute, "
                "but Execute with return_state returned no checkpoint for a state SaveCheckpoint "
                "can give"
            )
        returned = with_state.checkpoint
        saved, other = await probe.state(fast, X), await probe.state(unary, X)
        if returned.unchanged or not same(returned.state, saved) or not same(saved, other):
            raise CheckFailed(
                f"superstep {superstep}: the state returned with Execute "
                f"({'unchanged' if returned.unchanged else show(returned.state)}) is not the "
                f"one SaveCheckpoint gives right after ({show(saved)}) and on the unary path "
                f"({show(other)}): they must be the same bytes"
            )
    if not advertised:
        return "not advertised (optional): return_state is ignored, the unary path is used"
    run = probe.new_run()
    await probe.execute(run, X, messages[:1])
    known = payloads.state_hash(await probe.state(run, X))
    again = await probe.execute(run, X, [], superstep=2, return_state=True, known_state_hash=known)
    if again.checkpoint.unchanged and again.checkpoint.state.data:
        raise CheckFailed("Execute's checkpoint is unchanged and carries a state: leave it empty")
    return (
        f"{len(messages)} Execute call(s) with return_state gave the same results as without, "
        "and returned the very state bytes SaveCheckpoint gives on both paths"
    )


async def session_matches_unary(probe: Probe) -> str:
    features = (await probe.describe()).features
    if not features.session:
        return "not advertised (optional): every Execute is a unary call"
    messages = list(probe.target.messages)
    streamed, unary = probe.new_run(), probe.new_run()
    requests = [
        probe.execute_request(streamed, X, [m], superstep=i) for i, m in enumerate(messages, 1)
    ]
    unknown = probe.execute_request(
        probe.new_run(), X, messages[:1], executor_type="conformance-nope"
    )
    replies = await probe.session([*requests, unknown])
    for superstep, (message, reply) in enumerate(zip(messages, replies, strict=False), start=1):
        if reply.call_id != superstep or reply.code or not reply.HasField("execute"):
            raise CheckFailed(
                f"Session call {superstep} was answered with call_id {reply.call_id}, status "
                f"{reply.code} {reply.message!r}: expected its Execute response under its call_id"
            )
        without = await probe.execute(unary, X, [message], superstep=superstep)
        if Effects.of(reply.execute) != Effects.of(without):
            raise CheckFailed(
                f"superstep {superstep}: Execute on the Session stream gave other results than "
                "the unary Execute"
            )
    streamed_state, unary_state = await probe.state(streamed, X), await probe.state(unary, X)
    if not same(streamed_state, unary_state):
        raise CheckFailed(
            f"the Session stream's calls left state {show(streamed_state)}, the unary calls "
            f"{show(unary_state)}: they must be the same bytes"
        )
    refused = replies[-1]
    if refused.code != 5:  # NOT_FOUND, as the unary Execute of an unknown type
        raise CheckFailed(
            "Execute of an unknown executor type on the Session stream must be answered with "
            f"code 5 (NOT_FOUND), as the unary call; got {refused.code} {refused.message!r}"
        )
    ended = await _ends_on_the_stream(probe) if features.session_end_run else ""
    batched = await _batches_on_the_stream(probe)
    return (
        f"{len(messages)} Execute call(s) on the Session stream gave the same results and state "
        f"bytes as unary calls; an unknown type was answered NOT_FOUND{ended}{batched}"
    )


async def _batches_on_the_stream(probe: Probe) -> str:
    """Calls in one request, where the stream says it takes them, are answered
    as if each had come alone (one run per call, and an unknown type)."""
    messages = list(probe.target.messages)
    runs = [probe.new_run() for _ in messages]
    requests = [
        probe.execute_request(run, X, [message], superstep=1)
        for run, message in zip(runs, messages, strict=True)
    ]
    unknown = probe.execute_request(
        probe.new_run(), X, messages[:1], executor_type="conformance-nope"
    )
    batches, replies = await probe.session_batch([*requests, unknown])
    if not batches:
        return ""
    if sorted(replies) != list(range(1, len(requests) + 2)):
        raise CheckFailed(
            f"{len(requests) + 1} calls in one Session request were answered under call ids "
            f"{sorted(replies)}: expected each once"
        )
    for call_id, message in enumerate(messages, start=1):
        reply = replies[call_id]
        without = await probe.execute(probe.new_run(), X, [message], superstep=1)
        if reply.code or Effects.of(reply.execute) != Effects.of(without):
            raise CheckFailed(
                f"call {call_id} of several in one Session request gave other results than "
                f"the unary Execute (status {reply.code} {reply.message!r})"
            )
    if replies[len(requests) + 1].code != 5:
        raise CheckFailed(
            "an unknown executor type among several calls in one Session request must be "
            f"answered with code 5 (NOT_FOUND); got {replies[len(requests) + 1].code}"
        )
    return f"; {len(requests) + 1} calls in one request were answered as if each came alone"


async def _ends_on_the_stream(probe: Probe) -> str:
    """EndRun on the stream releases as the unary EndRun (`end_run_releases`)."""
    message = list(probe.target.messages[:1])
    ended, other = probe.new_run(), probe.new_run()
    for run, executor_id in ((ended, X), (ended, Y), (other, X)):
        await probe.execute(run, executor_id, message)
    never = f"conformance-never-{uuid.uuid4().hex}"
    both = executor_pb2.SessionRequest(end_run=[{"run_id": ended}, {"run_id": never}])
    (reply,) = await probe.session([both])
    if reply.call_id != 1 or reply.code or reply.end_run.released != 2:
        raise CheckFailed(
            f"EndRun on the Session stream of a run with executors {X} and {Y} and of a run "
            f"never seen was answered with call_id {reply.call_id}, status {reply.code} "
            f"{reply.message!r}, released {reply.end_run.released}: expected call_id 1, "
            "released 2"
        )
    for executor_id in (X, Y):
        await probe.expect_status(
            grpc.StatusCode.FAILED_PRECONDITION,
            f"SaveCheckpoint for ({ended}, {executor_id}) after EndRun on the Session stream",
            probe.save(ended, executor_id),
        )
    await probe.state(other, X)  # another run's object stays
    return "; EndRun on the stream released 2 objects, as the unary EndRun"
