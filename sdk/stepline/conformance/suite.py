"""Connect to an executor service, pick the type under test, run the checks."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc

from stepline import payloads
from stepline.conformance.checks import CHECKS, Check
from stepline.conformance.probe import CheckFailed, Probe, Target
from stepline.v1 import executor_pb2, executor_pb2_grpc

# Defaults fit the `stage` executors of this repository (Python and Node), whose
# Token is {"value", "hops", "limit", "delay_ms"}: three distinct tokens, so
# that the order in which they are handled shows in the stage's state.
DEFAULT_MESSAGE_TYPE = "Token"
DEFAULT_MESSAGES = (
    '{"value": 1, "hops": 0, "limit": 100}',
    '{"value": 2, "hops": 1, "limit": 100}',
    '{"value": 3, "hops": 2, "limit": 100}',
)


class SetupError(Exception):
    """The suite cannot start: unreachable service, no type to test, bad options."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    title: str
    passed: bool
    detail: str


class Suite:
    """A connection to one service, ready to run the checks against one type."""

    def __init__(self, probe: Probe, channel: grpc.aio.Channel, sdk: str) -> None:
        self.probe = probe
        self.sdk = sdk
        self._channel = channel

    @property
    def target(self) -> Target:
        return self.probe.target

    async def run(
        self,
        checks: Sequence[Check] = CHECKS,
        on_result: Callable[[CheckResult], None] | None = None,
    ) -> list[CheckResult]:
        """Run `checks` in turn (one failing does not stop the others), then end
        every run the suite made, so the service keeps no objects of ours."""
        results = []
        for check in checks:
            result = await _run_one(check, self.probe)
            results.append(result)
            if on_result is not None:
                on_result(result)
        for run_id in self.probe.runs:
            # Best effort, as the runner's own EndRun calls are.
            with contextlib.suppress(CheckFailed):
                await self.probe.end_run(run_id)
        return results

    async def close(self) -> None:
        await self._channel.close(None)


async def _run_one(check: Check, probe: Probe) -> CheckResult:
    try:
        detail = await check.run(probe)
    except CheckFailed as exc:
        return CheckResult(check.name, check.title, False, str(exc))
    except Exception as exc:  # a bug of the suite or a wild answer: report, don't crash
        return CheckResult(check.name, check.title, False, f"{type(exc).__name__}: {exc}")
    return CheckResult(check.name, check.title, True, detail)


async def connect(
    address: str,
    *,
    executor_type: str | None = None,
    message_type: str = DEFAULT_MESSAGE_TYPE,
    messages: Sequence[str] | None = None,
    timeout: float = 10.0,
    credentials: grpc.ChannelCredentials | None = None,
) -> Suite:
    """Describe the service at `address` and prepare the suite.

    With `credentials` (`grpc.ssl_channel_credentials`, perhaps composed with
    a token's call credentials), over TLS.

    `messages` are JSON texts sent as payloads of `message_type`; without
    `executor_type`, the first type whose input_types take `message_type`
    is tested.
    """
    if messages is None:
        if message_type != DEFAULT_MESSAGE_TYPE:
            raise SetupError(f"give the messages to send as {message_type!r} (--message JSON)")
        messages = DEFAULT_MESSAGES
    if not messages:
        raise SetupError("give at least one message")
    encoded = tuple(payloads.encode(_json(m), message_type) for m in messages)
    channel = Probe.channel(address, credentials)
    try:
        stub = executor_pb2_grpc.ExecutorServiceStub(channel)
        described: executor_pb2.DescribeResponse = await stub.Describe(
            executor_pb2.DescribeRequest(), timeout=timeout
        )
        tested = _pick(described, executor_type, message_type)
    except grpc.aio.AioRpcError as exc:
        await channel.close(None)
        raise SetupError(
            f"cannot call Describe on {address}: {exc.code().name}: {exc.details()}"
        ) from exc
    except SetupError:
        await channel.close(None)
        raise
    target = Target(address, tested.name, encoded, timeout)
    probe = Probe(target, channel, described.incarnation_id, frozenset(tested.input_types))
    return Suite(probe, channel, described.sdk)


def _json(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise SetupError(f"a message is not JSON ({exc}): {text[:60]!r}") from exc
    except RecursionError:
        raise SetupError(f"a message nests its JSON too deeply: {text[:60]!r}") from None


def _pick(
    described: executor_pb2.DescribeResponse, name: str | None, message_type: str
) -> executor_pb2.ExecutorType:
    hosted = ", ".join(
        f"{t.name} (takes {', '.join(t.input_types) or 'anything'})"
        for t in described.executor_types
    )
    for executor_type in described.executor_types:
        takes = set(executor_type.input_types)
        if name is not None and executor_type.name == name:
            return executor_type
        if name is None and (not takes or message_type in takes or "*" in takes):
            return executor_type
    if name is not None:
        raise SetupError(f"the service hosts no executor type {name!r}; it hosts: {hosted}")
    raise SetupError(
        f"no executor type takes {message_type!r}; the service hosts: {hosted or 'nothing'}; "
        "choose one with --type and what to send with --message-type and --message"
    )
