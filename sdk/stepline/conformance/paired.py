"""Checks that need more than the service under test: a command that restarts
it (`restart_check`), and a reference service of the same types to compare it
with (`differential_check`).

The differential check feeds both services the same message sequences and
compares, call by call, what they sent, yielded, asked and wrote, and the
state bytes each then saves: a port to another language proven equal to the
original, not only self-consistent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import grpc

from stepline import payloads
from stepline.conformance.checks import Check
from stepline.conformance.probe import CheckFailed, Effects, Payload, Probe, RpcFailed, X, show
from stepline.conformance.reference_checks import REFERENCE_TYPE, ref
from stepline.v1 import executor_pb2, payload_pb2


def restart_check(command: str) -> Check:
    """A check that runs `command` (a shell command that restarts the service
    at the same address) and expects a new incarnation id that knows no
    object of before."""

    async def restart_changes_incarnation(probe: Probe) -> str:
        run = probe.new_run()
        await probe.execute(run, X, probe.target.messages[:1])
        before = probe.incarnation_id
        process = await asyncio.create_subprocess_shell(command)
        if (code := await process.wait()) != 0:
            raise CheckFailed(f"the restart command exited with status {code}: {command}")
        after = await _describe_again(probe, before)
        if after == before:
            raise CheckFailed(
                f"after the restart command the service still has incarnation id {before!r}: "
                "a new process must choose a new one (the runner learns from it that the "
                "service lost its objects)"
            )
        probe.incarnation_id = after
        await probe.expect_status(
            grpc.StatusCode.FAILED_PRECONDITION,
            f"SaveCheckpoint after the restart for ({run}, {X}), which ran before it",
            probe.save(run, X),
        )
        return f"incarnation {before} became {after}; the old objects were gone"

    return Check("restart", "a restart changes the incarnation id", restart_changes_incarnation)


async def _describe_again(probe: Probe, before: str) -> str:
    """The incarnation id the service answers Describe with once it differs
    from `before`, or, at the deadline, the last one (a restart command may
    return before the old process is gone)."""
    deadline = time.monotonic() + 3 * probe.target.timeout
    while True:
        try:
            got = str((await probe.describe_unchecked()).incarnation_id)
        except grpc.aio.AioRpcError as exc:
            if time.monotonic() > deadline:
                raise CheckFailed(
                    f"the service did not answer Describe after the restart: {exc.code().name}"
                ) from exc
        else:
            if got != before or time.monotonic() > deadline:
                return got
        await asyncio.sleep(0.2)  # polling a restarting process: nothing to wait on


@dataclass
class Step:
    """One Execute of a sequence; `answer` answers the requests of the step before."""

    messages: Sequence[Payload]
    shared_state: dict[str, Payload] = field(default_factory=dict)
    answer: Payload | None = None


def reference_script() -> list[Step]:
    """Every behaviour of the reference type, in one run."""
    batch = payload_pb2.MessageBatch()
    for source, value in (("a", 4), ("b", -1)):
        batch.messages.add(source_id=source, target_id=X, payload=ref("add", value))
    return [
        Step([ref("add", 3), ref("ask", 5, "q"), ref("write", 2, "k")]),
        Step([ref("read", key="k"), ref("add", -8)], {"k": payloads.encode(7)}, ref_answer(6)),
        Step([payloads.encode(batch), ref("pad", 12), ref("add", 1)]),
    ]


def ref_answer(value: int) -> Payload:
    return payloads.encode({"value": value}, "RefAnswer")


def token_script(messages: Sequence[Payload]) -> list[Step]:
    """The suite's messages all at once, then one by one, then reversed."""
    return [Step(list(messages)), *(Step([m]) for m in messages), Step(list(messages)[::-1])]


def differential_check(reference: Probe) -> Check:
    """A check comparing the service with `reference`, a service of the same
    types (the original of a port): the type under test with the suite's
    messages, and the reference type with a script of all it does."""

    async def behaves_like_the_reference(probe: Probe) -> str:
        scripts = [(probe.target.executor_type, token_script(probe.target.messages))]
        if probe.target.executor_type != REFERENCE_TYPE:
            scripts.append((REFERENCE_TYPE, reference_script()))
        calls = 0
        for executor_type, script in scripts:
            calls += await _compare(
                probe.for_type(executor_type), reference.for_type(executor_type), script
            )
        names = " and ".join(repr(t) for t, _ in scripts)
        return (
            f"{calls} Execute calls of {names} sent, yielded, asked and wrote the same as "
            f"{reference.target.address}, and saved the same state bytes after each"
        )

    return Check("differential", "behaves like the reference service", behaves_like_the_reference)


async def _compare(ours: Probe, theirs: Probe, script: Sequence[Step]) -> int:
    runs = ours.new_run(), theirs.new_run()
    asked: tuple[list[payload_pb2.InputRequest], list[payload_pb2.InputRequest]] = ([], [])
    for superstep, step in enumerate(script, start=1):
        results = []
        for probe, run, requests in zip((ours, theirs), runs, asked, strict=True):
            responses = _answers(requests, step.answer)
            response = await _execute(probe, run, step, superstep, responses)
            requests[:] = list(response.requests)
            results.append((Effects.of(response), await probe.state(run, X)))
        (mine, my_state), (want, their_state) = results
        where = f"{ours.target.executor_type!r} call {superstep} of the sequence"
        if _normal(mine) != _normal(want):
            raise CheckFailed(f"{where}: this service {_brief(mine)}, the reference {_brief(want)}")
        if (my_state.type_name, my_state.data) != (their_state.type_name, their_state.data):
            raise CheckFailed(
                f"{where}: this service saved {show(my_state)}, the reference {show(their_state)}"
            )
    return len(script)


async def _execute(
    probe: Probe,
    run: str,
    step: Step,
    superstep: int,
    responses: list[payload_pb2.InputResponse],
) -> executor_pb2.ExecuteResponse:
    try:
        return await probe.execute(
            run,
            X,
            step.messages,
            superstep=superstep,
            responses=responses,
            shared_state=step.shared_state,
        )
    except RpcFailed as exc:
        raise CheckFailed(f"{probe.target.address}: {exc}") from exc


def _answers(
    requests: list[payload_pb2.InputRequest], answer: Payload | None
) -> list[payload_pb2.InputResponse]:
    if answer is None:
        return []
    answered = []
    for i, asked in enumerate(requests):
        request = payload_pb2.InputRequest()
        request.CopyFrom(asked)
        request.request_id = asked.request_id or f"differential:{i}"
        request.executor_id = X
        answered.append(payload_pb2.InputResponse(request=request, response=answer))
    return answered


def _normal(effects: Effects) -> tuple[object, ...]:
    """What must be equal: payloads byte for byte, requests without the ids a
    runner fills in, writes in order."""

    def p(payload: Payload) -> tuple[str, str, bytes]:
        return payload.type_name, payload.content_type or payloads.JSON, payload.data

    return (
        [(m.target_id, p(m.payload)) for m in effects.sent],
        [p(o) for o in effects.outputs],
        [(e.name, p(e.data)) for e in effects.events],
        [(r.request_id, p(r.data), r.response_type) for r in effects.requests],
        [(w.key, w.delete, p(w.value)) for w in effects.shared_state_writes],
    )


def _brief(effects: Effects) -> str:
    parts = [
        f"sent [{', '.join(show(m.payload, 60) for m in effects.sent)}]",
        f"yielded [{', '.join(show(o, 60) for o in effects.outputs)}]",
        f"asked [{', '.join(show(r.data, 60) for r in effects.requests)}]",
        f"wrote [{', '.join(f'{w.key}={show(w.value, 30)}' for w in effects.shared_state_writes)}]",
    ]
    return ", ".join(parts)
