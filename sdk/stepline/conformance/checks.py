"""The checks: each an async function of a `Probe` that returns what it saw
or raises `CheckFailed` saying what is wrong.

Each check uses fresh run ids, so checks do not disturb each other (nor other
runs the service is serving), and compares the executor only with itself:
what it does with some messages in one way against what it does with the same
messages in another. See the package doc for what that assumes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from stepline import payloads
from stepline.conformance.fast_path import session_matches_unary, state_with_execute_matches
from stepline.conformance.probe import (
    CheckFailed,
    Effects,
    Payload,
    Probe,
    RpcFailed,
    X,
    Y,
    show,
)
from stepline.conformance.probe import same_state as same
from stepline.reasons import Reason

STALE_EPOCH = Reason.STALE_EPOCH.value


@dataclass(frozen=True)
class Check:
    name: str
    title: str
    run: Callable[[Probe], Awaitable[str]]


def _several(messages: tuple[Payload, ...]) -> list[Payload]:
    """At least two messages (one given message is used three times)."""
    return list(messages) if len(messages) > 1 else list(messages) * 3


def _summary(effects: Effects) -> str:
    parts = [f"sent [{', '.join(show(m.payload, 60) for m in effects.sent)}]"]
    if effects.outputs:
        parts.append(f"outputs [{', '.join(show(p, 60) for p in effects.outputs)}]")
    return "; ".join(parts)


async def describe_is_sane(probe: Probe) -> str:
    first, second = await probe.describe(), await probe.describe()
    if not first.incarnation_id:
        raise CheckFailed("Describe returned an empty incarnation_id")
    if second.incarnation_id != first.incarnation_id:
        raise CheckFailed(
            f"two Describe calls returned incarnation ids {first.incarnation_id!r} and "
            f"{second.incarnation_id!r}: it must stay the same while the process lives"
        )
    names = [t.name for t in first.executor_types]
    if not names or "" in names:
        raise CheckFailed(f"Describe must list executor types, each with a name; got {names}")
    if len(set(names)) != len(names):
        raise CheckFailed(f"Describe lists an executor type twice: {names}")
    wanted = probe.target.executor_type
    tested = next((t for t in first.executor_types if t.name == wanted), None)
    if tested is None:
        raise CheckFailed(f"Describe no longer lists the type under test {wanted!r}: {names}")
    accepts = set(tested.input_types)
    message_types = {m.type_name for m in probe.target.messages}
    if accepts and "*" not in accepts and not message_types <= accepts:
        raise CheckFailed(
            f"type {wanted!r} lists input_types {sorted(accepts)}, which lack the suite's "
            f"message types {sorted(message_types - accepts)}"
        )
    # One call of each stateful RPC: the Probe checks each answers with the same id.
    run = probe.new_run()
    await probe.execute(run, X, probe.target.messages[:1])
    await probe.restore(run, X, await probe.state(run, X))
    takes = ", ".join(f"{t.name} takes [{', '.join(t.input_types)}]" for t in first.executor_types)
    return (
        f"incarnation id {first.incarnation_id} is the same in Describe (twice), Execute, "
        f"SaveCheckpoint and RestoreCheckpoint; {takes}"
    )


async def delivers_in_order(probe: Probe) -> str:
    messages = _several(probe.target.messages)
    batch_run, single_run, reverse_run = probe.new_run(), probe.new_run(), probe.new_run()
    batch = Effects.of(await probe.execute(batch_run, X, messages))
    singles = Effects()
    for superstep, message in enumerate(messages, start=1):
        response = await probe.execute(single_run, X, [message], superstep=superstep)
        singles += Effects.of(response)
    if batch != singles:
        raise CheckFailed(
            f"{len(messages)} messages in one Execute gave {_summary(batch)}, but one per "
            f"Execute gave {_summary(singles)}: a call's messages must be handled one by one, "
            "in the order given, and their results returned in that order"
        )
    batch_state, single_state = await probe.state(batch_run, X), await probe.state(single_run, X)
    if not same(batch_state, single_state):
        raise CheckFailed(
            f"{len(messages)} messages in one Execute left state {show(batch_state)}, but one "
            f"per Execute left {show(single_state)}: a call's messages must be handled in order"
        )
    reverse = Effects.of(await probe.execute(reverse_run, X, messages[::-1]))
    observable = reverse != batch or not same(await probe.state(reverse_run, X), batch_state)
    seen = (
        "in reverse order they give other results, so the order was observable"
        if observable
        else "NOTE: in reverse order they give the same results, so the order itself was "
        "not observable (give several distinct --message values)"
    )
    return (
        f"{len(messages)} messages in one Execute gave the same sent messages, outputs and "
        f"state as one per Execute; {seen}"
    )


async def save_restore_round_trips(probe: Probe) -> str:
    messages = list(probe.target.messages)
    source, copy, blank_run, replaced = (probe.new_run() for _ in range(4))
    await probe.execute(source, X, messages)
    saved = await probe.state(source, X)
    await probe.restore(copy, X, saved)
    again = await probe.state(copy, X)
    if not same(again, saved):
        raise CheckFailed(
            f"saved {show(saved)}, restored it into another run and saved {show(again)}: "
            "a restored state must save back unchanged (type name, content type and bytes)"
        )
    # From here on the restored object must behave as the original does.
    after = Effects.of(await probe.execute(source, X, messages[:1], superstep=2))
    after_copy = Effects.of(await probe.execute(copy, X, messages[:1], superstep=2))
    if after != after_copy:
        raise CheckFailed(
            f"after the restore, the same message gave {_summary(after)} from the original "
            f"but {_summary(after_copy)} from the restored object"
        )
    original, restored = await probe.state(source, X), await probe.state(copy, X)
    if not same(original, restored):
        raise CheckFailed(
            f"after the restore and one more message, the original saved {show(original)} "
            f"but the restored object {show(restored)}"
        )
    # RestoreCheckpoint replaces whatever the pair held; an unset state means fresh.
    await probe.restore(blank_run, X, None)
    blank = await probe.state(blank_run, X)
    await probe.execute(replaced, X, messages[:1])
    await probe.restore(replaced, X, saved)
    if not same(over := await probe.state(replaced, X), saved):
        raise CheckFailed(
            f"restoring {show(saved)} over an object that had handled a message left "
            f"{show(over)}: a restore must replace the state"
        )
    await probe.restore(replaced, X, None)
    if not same(fresh := await probe.state(replaced, X), blank):
        raise CheckFailed(
            f"restoring an unset state saved {show(fresh)}, but a fresh object saves "
            f"{show(blank)}: an unset state means a fresh object"
        )
    return (
        f"{saved.type_name!r} ({len(saved.data)} bytes) saved back byte for byte after a "
        "restore into another run, and both objects went on alike; a restore replaces "
        "the state, an unset one gives a fresh object"
    )


async def honours_known_state_hash(probe: Probe) -> str:
    run = probe.new_run()
    await probe.execute(run, X, list(probe.target.messages))
    saved = await probe.state(run, X)
    known = await probe.save(run, X, known_state_hash=payloads.state_hash(saved))
    if known.unchanged and known.HasField("state") and known.state.data:
        raise CheckFailed("SaveCheckpoint answered unchanged and sent a state: leave state empty")
    if not known.unchanged and not same(known.state, saved):
        raise CheckFailed(
            f"SaveCheckpoint with the hash of {show(saved)} answered neither unchanged "
            f"nor that state, but {show(known.state)}"
        )
    stale = await probe.save(run, X, known_state_hash="0" * 64)
    if stale.unchanged or not same(stale.state, saved):
        raise CheckFailed(
            "SaveCheckpoint with a known_state_hash that does not match must send the "
            f"state; it answered unchanged={stale.unchanged}, {show(stale.state)}"
        )
    answer = "unchanged" if known.unchanged else "with the state again (allowed)"
    return f"a matching hash was answered {answer}; a stale hash with the state"


async def isolates_state(probe: Probe) -> str:
    first, second = _several(probe.target.messages)[:2]
    # What one object does with these messages when nothing else happens.
    ref_one, ref_two, ref_y = probe.new_run(), probe.new_run(), probe.new_run()
    alone = Effects.of(await probe.execute(ref_one, X, [first]))
    one = await probe.state(ref_one, X)
    await probe.execute(ref_two, X, [first])
    await probe.execute(ref_two, X, [second], superstep=2)
    two = await probe.state(ref_two, X)
    alone_y = Effects.of(await probe.execute(ref_y, Y, [second]))
    one_y = await probe.state(ref_y, Y)

    # Runs p and q use the same executor id at the same time; p has a second executor too.
    p, q = probe.new_run(), probe.new_run()
    together = await asyncio.gather(probe.execute(p, X, [first]), probe.execute(q, X, [first]))
    for run, response in zip((p, q), together, strict=True):
        if Effects.of(response) != alone:
            raise CheckFailed(
                f"run {run} gave {_summary(Effects.of(response))} while another run of the "
                f"same executor id ran at the same time, but {_summary(alone)} alone"
            )
    beside = Effects.of(await probe.execute(p, Y, [second]))
    if beside != alone_y:
        raise CheckFailed(
            f"executor {Y} gave {_summary(beside)} next to {X} in one run, but "
            f"{_summary(alone_y)} alone: two executor ids are two objects"
        )
    await probe.execute(p, X, [second], superstep=2)
    expected = {(p, X): two, (q, X): one, (p, Y): one_y}
    for (run, executor_id), want in expected.items():
        got = await probe.state(run, executor_id)
        if not same(got, want):
            raise CheckFailed(
                f"({run}, {executor_id}) saved {show(got)}, but the same messages alone "
                f"leave {show(want)}: state must belong to one (run, executor) pair"
            )
    note = "" if not same(one, two) else " (NOTE: its state did not change with messages)"
    return (
        "two runs sharing an executor id, concurrently, and two executor ids in one run "
        f"kept their own states and results{note}"
    )


async def end_run_releases(probe: Probe) -> str:
    message = list(probe.target.messages[:1])
    ended, other = probe.new_run(), probe.new_run()
    for run, executor_id in ((ended, X), (ended, Y), (other, X)):
        await probe.execute(run, executor_id, message)
    released = await probe.end_run(ended)
    if released != 2:
        raise CheckFailed(f"EndRun of a run with executors {X} and {Y} released {released}, not 2")
    for executor_id in (X, Y):
        await probe.expect_status(
            grpc.StatusCode.FAILED_PRECONDITION,
            f"SaveCheckpoint for ({ended}, {executor_id}) after EndRun",
            probe.save(ended, executor_id),
        )
    if (again := await probe.end_run(ended)) != 0:
        raise CheckFailed(f"a second EndRun of the same run released {again}, not 0")
    if (never := await probe.end_run(f"conformance-never-{uuid.uuid4().hex}")) != 0:
        raise CheckFailed(f"EndRun of a run the service never saw released {never}, not 0")
    kept = await probe.state(other, X)
    await probe.execute(ended, X, message)
    if not same(restarted := await probe.state(ended, X), kept):
        raise CheckFailed(
            f"after EndRun, the run's executor saved {show(restarted)} after one message, "
            f"but a fresh object saves {show(kept)}: EndRun must drop the old state"
        )
    return (
        "EndRun released 2 objects, SaveCheckpoint then answered FAILED_PRECONDITION, "
        "a repeat released 0, other runs kept their state, and a new Execute started afresh"
    )


async def errors_are_statuses(probe: Probe) -> str:
    unknown = "conformance.no-such-executor-type"
    run = probe.new_run()
    message = list(probe.target.messages[:1])
    await probe.expect_status(
        grpc.StatusCode.NOT_FOUND,
        f"Execute with executor_type {unknown!r}",
        probe.execute_raw(run, X, message, executor_type=unknown),
    )
    await probe.expect_status(
        grpc.StatusCode.NOT_FOUND,
        f"RestoreCheckpoint with executor_type {unknown!r}",
        probe.restore(run, X, None, executor_type=unknown),
    )
    await probe.expect_status(
        grpc.StatusCode.FAILED_PRECONDITION,
        "SaveCheckpoint for a (run, executor) the service never saw",
        probe.save(probe.new_run(), X),
    )
    bogus = Payload(
        type_name=f"{probe.target.executor_type}.state",
        content_type="application/x-conformance-unknown",
        data=b"\x00",
    )
    await probe.expect_status(
        grpc.StatusCode.INVALID_ARGUMENT,
        "RestoreCheckpoint with a state in an unknown content type",
        probe.restore(run, X, bogus),
    )
    return (
        "unknown executor type -> NOT_FOUND (Execute, RestoreCheckpoint); unknown pair -> "
        f"FAILED_PRECONDITION; unreadable state -> INVALID_ARGUMENT; {await _stray_message(probe)}"
    )


async def _stray_message(probe: Probe) -> str:
    """A message of a type the executor does not take must fail the call or the run:
    ExecuteResponse.error (what the Python SDK does) or INVALID_ARGUMENT."""
    if "*" in probe.input_types or not probe.input_types:
        return "a stray message type: not checked, the type accepts any payload"
    stray = Payload(type_name="conformance.NotAnInputType", content_type=payloads.JSON, data=b"{}")
    try:
        response = await probe.execute_raw(probe.new_run(), X, [stray])
    except RpcFailed as exc:
        if exc.code != grpc.StatusCode.INVALID_ARGUMENT:
            raise CheckFailed(
                f"Execute of a message type the executor does not take: expected "
                f"ExecuteResponse.error or INVALID_ARGUMENT, got {exc.code.name}: {exc.details}"
            ) from exc
        return "a stray message type -> INVALID_ARGUMENT"
    if not (response.HasField("error") and response.error.type and response.error.message):
        raise CheckFailed(
            "Execute of a message type the executor does not take returned no error "
            "(it needs ExecuteResponse.error with type and message, or INVALID_ARGUMENT)"
        )
    return f"a stray message type -> ExecuteResponse.error {response.error.type}"


async def refuses_stale_epochs(probe: Probe) -> str:
    stale = grpc.StatusCode.FAILED_PRECONDITION

    async def refused(what: str, call: Any) -> None:
        await probe.expect_status(stale, what, call, reason=STALE_EPOCH)

    message = list(probe.target.messages[:1])
    run, other = probe.new_run(), probe.new_run()
    await probe.execute(run, X, message, epoch=2)
    kept = await probe.state(run, X, epoch=2)
    await refused("Execute with epoch 1 after epoch 2", probe.execute_raw(run, X, message, epoch=1))
    await refused("SaveCheckpoint with epoch 1 after epoch 2", probe.save(run, X, epoch=1))
    await refused(
        "RestoreCheckpoint with epoch 1 after epoch 2", probe.restore(run, X, None, epoch=1)
    )
    if released := await probe.end_run(run, epoch=1):
        raise CheckFailed(
            f"EndRun with epoch 1 after epoch 2 released {released} object(s), not 0: a "
            "superseded runner's EndRun must leave the run's objects to the new owner"
        )
    if not same(after := await probe.state(run, X, epoch=2), kept):
        raise CheckFailed(
            f"calls refused as stale changed the state from {show(kept)} to {show(after)}"
        )
    await probe.restore(run, X, kept, epoch=3)  # a takeover: restore comes first
    await refused(
        "Execute with epoch 2 after a RestoreCheckpoint with epoch 3",
        probe.execute_raw(run, X, message, epoch=2),
    )
    # Epoch 0: a caller that does not fence, served without lowering the fence.
    await probe.execute(run, X, message, superstep=2, epoch=0)
    await refused(
        "Execute with epoch 2 after one with epoch 0", probe.execute_raw(run, X, message, epoch=2)
    )
    await probe.execute(other, X, message, epoch=1)  # fenced run by run
    return (
        "calls with an older epoch than the run's highest (Execute, SaveCheckpoint, "
        "RestoreCheckpoint) -> FAILED_PRECONDITION with reason STALE_EPOCH, and EndRun -> "
        "released 0, leaving the state as it was; epoch 0 served without lowering the fence; "
        "other runs unaffected"
    )


CHECKS: tuple[Check, ...] = (
    Check("describe", "Describe is sane", describe_is_sane),
    Check("in-order", "messages are handled in order", delivers_in_order),
    Check("save-restore", "save and restore round-trip", save_restore_round_trips),
    Check("state-hash", "SaveCheckpoint honours known_state_hash", honours_known_state_hash),
    Check("isolation", "state is isolated per (run, executor)", isolates_state),
    Check("end-run", "EndRun releases the run's objects", end_run_releases),
    Check("errors", "errors come back as gRPC statuses", errors_are_statuses),
    Check("epochs", "calls with a stale epoch are refused", refuses_stale_epochs),
    Check(
        "fast-path", "the state with Execute equals SaveCheckpoint's", state_with_execute_matches
    ),
    Check("session", "Execute on the Session stream equals unary Execute", session_matches_unary),
)
