"""`Probe`: the suite's client of the executor service under test.

It wraps the generated stub so that checks read as a list of steps: every call
has a deadline, every run id it makes is remembered (so the suite can end its
runs afterwards), every response's `incarnation_id` is compared with the one
`Describe` gave, and a failed call becomes a `CheckFailed` that names the RPC.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

import grpc

from stepline import payloads
from stepline.credentials import dial
from stepline.errors import error_info
from stepline.limits import GRPC_CHANNEL_OPTIONS, SESSION_BATCHES
from stepline.v1 import executor_pb2, executor_pb2_grpc, payload_pb2

Payload = payload_pb2.Payload


# Two executor ids of one length: an executor may depend on its id (the test
# stages do, on its length), so each is compared only with runs of the same id.
X, Y = "conformance-x", "conformance-y"


class ExecuteOptions(TypedDict, total=False):
    """The fields of an ExecuteRequest a check may set (`Probe.execute_request`
    defaults them)."""

    executor_type: str | None
    superstep: int
    responses: Sequence[payload_pb2.InputResponse]
    shared_state: Mapping[str, Payload] | None
    epoch: int
    return_state: bool
    known_state_hash: str


class CheckFailed(Exception):
    """A check found the executor service at fault; the message says how."""


class RpcFailed(CheckFailed):
    """An RPC answered with an error status; `reason` is the one of the
    `google.rpc.ErrorInfo` in its details, if any."""

    def __init__(self, method: str, code: grpc.StatusCode, details: str, reason: str = "") -> None:
        super().__init__(f"{method} failed with {code.name}: {details}")
        self.method = method
        self.code = code
        self.details = details
        self.reason = reason


@dataclass(frozen=True)
class Target:
    """What to test: a service, one of its executor types, and messages it takes.

    `messages` are payloads the type handles without error, in any state; the
    suite sends them in various orders and combinations (see the package doc).
    """

    address: str
    executor_type: str
    messages: tuple[Payload, ...]
    timeout: float = 10.0


@dataclass(frozen=True)
class Effects:
    """What one or more `Execute` calls did, apart from the incarnation id."""

    sent: tuple[payload_pb2.Message, ...] = ()
    outputs: tuple[Payload, ...] = ()
    events: tuple[executor_pb2.CustomEvent, ...] = ()
    requests: tuple[payload_pb2.InputRequest, ...] = ()
    shared_state_writes: tuple[payload_pb2.SharedStateWrite, ...] = ()

    @classmethod
    def of(cls, response: executor_pb2.ExecuteResponse) -> Effects:
        return cls(
            tuple(response.sent),
            tuple(response.outputs),
            tuple(response.events),
            tuple(response.requests),
            tuple(response.shared_state_writes),
        )

    def __add__(self, other: Effects) -> Effects:
        return Effects(
            self.sent + other.sent,
            self.outputs + other.outputs,
            self.events + other.events,
            self.requests + other.requests,
            self.shared_state_writes + other.shared_state_writes,
        )

    def __bool__(self) -> bool:
        return any((self.sent, self.outputs, self.events, self.requests, self.shared_state_writes))


class Probe:
    """Calls the service under test on behalf of the checks."""

    def __init__(
        self,
        target: Target,
        channel: grpc.aio.Channel,
        incarnation_id: str,
        input_types: frozenset[str],
    ) -> None:
        self.target = target
        #: From the first Describe; every later answer must carry the same.
        self.incarnation_id = incarnation_id
        #: The input_types Describe lists for the type under test.
        self.input_types = input_types
        self.runs: list[str] = []
        self._channel = channel
        self._stub = executor_pb2_grpc.ExecutorServiceStub(channel)

    @staticmethod
    def channel(
        address: str, credentials: grpc.ChannelCredentials | None = None
    ) -> grpc.aio.Channel:
        """A channel to an executor service with the options every client
        channel takes (`stepline.limits.GRPC_CHANNEL_OPTIONS`): the message
        cap, quick reconnects after a restart, connections of its own."""
        return dial(address, credentials, options=GRPC_CHANNEL_OPTIONS)

    def for_type(self, executor_type: str) -> Probe:
        """A probe of another type of the same service; it shares the channel,
        the incarnation id and the runs to end."""
        target = Target(self.target.address, executor_type, (), self.target.timeout)
        probe = Probe(target, self._channel, self.incarnation_id, frozenset())
        probe.runs = self.runs
        return probe

    def new_run(self) -> str:
        """A run id no other check (nor any earlier suite run) uses."""
        run_id = f"conformance-{uuid.uuid4().hex}"
        self.runs.append(run_id)
        return run_id

    async def describe(self) -> executor_pb2.DescribeResponse:
        response: executor_pb2.DescribeResponse = await self.call(
            "Describe", executor_pb2.DescribeRequest()
        )
        return response

    async def describe_unchecked(self) -> executor_pb2.DescribeResponse:
        """Describe without comparing the incarnation id (after a restart);
        raises `grpc.aio.AioRpcError`."""
        response: executor_pb2.DescribeResponse = await self._stub.Describe(
            executor_pb2.DescribeRequest(), timeout=self.target.timeout
        )
        return response

    async def execute(
        self,
        run_id: str,
        executor_id: str,
        messages: Sequence[Payload],
        **options: Unpack[ExecuteOptions],
    ) -> executor_pb2.ExecuteResponse:
        """One `Execute`; a handler error in the response fails the check
        (the messages are meant to be ones the executor handles)."""
        response = await self.execute_raw(run_id, executor_id, messages, **options)
        if response.HasField("error"):
            raise CheckFailed(
                f"Execute of {len(messages)} message(s) to a {self.target.executor_type!r} "
                f"returned a handler error, {response.error.type}: {response.error.message} "
                "(the suite's messages must be ones the executor handles; see --message)"
            )
        return response

    async def execute_raw(
        self,
        run_id: str,
        executor_id: str,
        messages: Sequence[Payload],
        **options: Unpack[ExecuteOptions],
    ) -> executor_pb2.ExecuteResponse:
        request = self.execute_request(run_id, executor_id, messages, **options)
        response: executor_pb2.ExecuteResponse = await self.call("Execute", request)
        return response

    async def session(
        self, requests: Sequence[executor_pb2.ExecuteRequest | executor_pb2.SessionRequest]
    ) -> list[executor_pb2.SessionReply]:
        """The requests on one Session stream, one at a time (each answered
        before the next is sent), with call ids 1, 2, ...; their replies. An
        ExecuteRequest goes as a SessionRequest's `execute`."""
        stream = self.open_session(len(requests))
        replies: list[executor_pb2.SessionReply] = []
        try:
            for call_id, request in enumerate(requests, start=1):
                if isinstance(request, executor_pb2.ExecuteRequest):
                    request = executor_pb2.SessionRequest(execute=request)
                request.call_id = call_id
                await stream.write(request)
                reply = await stream.read()
                if not isinstance(reply, executor_pb2.SessionReply):  # grpc.aio.EOF
                    raise CheckFailed(f"the Session stream ended before answering call {call_id}")
                replies.append(reply)
            await stream.done_writing()
        except grpc.aio.AioRpcError as exc:
            raise RpcFailed("Session", exc.code(), exc.details() or "") from exc
        finally:
            stream.cancel()
        return replies

    def open_session(self, calls: int = 1, slack: float = 0.0) -> Any:
        """A stream with the target's timeout per call, `slack` s more; the caller cancels it."""
        return self._stub.Session(timeout=self.target.timeout * max(1, calls) + slack)  # type: ignore[call-arg]

    async def session_batch(
        self, requests: Sequence[executor_pb2.ExecuteRequest]
    ) -> tuple[bool, dict[int, executor_pb2.SessionReply]]:
        """Whether a Session stream's initial metadata says it takes several
        calls in one request and, if it does, the requests after the first in
        one (`SessionRequest.calls`, call ids 1, 2, ...) and their replies by
        call id (those that came several in one included). The first goes
        alone: the metadata has come by its reply, whenever a service sends it."""
        stream = self.open_session(len(requests))
        replies: dict[int, executor_pb2.SessionReply] = {}
        calls = [
            executor_pb2.SessionRequest(call_id=call_id, execute=request)
            for call_id, request in enumerate(requests, start=1)
        ]
        try:
            await stream.write(calls[0])
            first = await stream.read()
            if not isinstance(first, executor_pb2.SessionReply):  # grpc.aio.EOF
                raise CheckFailed("the Session stream ended before answering call 1")
            replies[first.call_id] = first
            batches = SESSION_BATCHES in tuple(await stream.initial_metadata())
            if not batches:
                return False, replies
            await stream.write(executor_pb2.SessionRequest(calls=calls[1:]))
            while len(replies) < len(calls):
                reply = await stream.read()
                if not isinstance(reply, executor_pb2.SessionReply):  # grpc.aio.EOF
                    raise CheckFailed(
                        f"the Session stream ended with {len(replies)} of the {len(calls)} "
                        "calls of one request answered"
                    )
                for one in reply.replies or [reply]:
                    replies[one.call_id] = one
            await stream.done_writing()
        except grpc.aio.AioRpcError as exc:
            raise RpcFailed("Session", exc.code(), exc.details() or "") from exc
        finally:
            stream.cancel()
        return True, replies

    def execute_request(
        self,
        run_id: str,
        executor_id: str,
        messages: Sequence[Payload],
        *,
        executor_type: str | None = None,
        superstep: int = 1,
        responses: Sequence[payload_pb2.InputResponse] = (),
        shared_state: Mapping[str, Payload] | None = None,
        epoch: int = 0,
        return_state: bool = False,
        known_state_hash: str = "",
    ) -> executor_pb2.ExecuteRequest:
        request = executor_pb2.ExecuteRequest(
            run_id=run_id,
            executor_id=executor_id,
            executor_type=self.target.executor_type if executor_type is None else executor_type,
            superstep=superstep,
            attempt=1,
            epoch=epoch,
            return_state=return_state,
            known_state_hash=known_state_hash,
        )
        for payload in messages:
            request.messages.add(payload=payload)
        request.responses.extend(responses)
        for key, value in (shared_state or {}).items():
            request.shared_state[key].CopyFrom(value)
        return request

    async def save(
        self, run_id: str, executor_id: str, known_state_hash: str = "", epoch: int = 0
    ) -> executor_pb2.SaveCheckpointResponse:
        request = executor_pb2.SaveCheckpointRequest(
            run_id=run_id,
            executor_id=executor_id,
            executor_type=self.target.executor_type,
            known_state_hash=known_state_hash,
            epoch=epoch,
        )
        response: executor_pb2.SaveCheckpointResponse = await self.call("SaveCheckpoint", request)
        return response

    async def state(self, run_id: str, executor_id: str, epoch: int = 0) -> Payload:
        """SaveCheckpoint without a known hash: the answer must carry the state."""
        response = await self.save(run_id, executor_id, epoch=epoch)
        if response.unchanged or not response.HasField("state"):
            raise CheckFailed(
                f"SaveCheckpoint for ({run_id}, {executor_id}) without known_state_hash "
                "answered without a state"
            )
        return response.state

    async def restore(
        self,
        run_id: str,
        executor_id: str,
        state: Payload | None,
        *,
        executor_type: str | None = None,
        epoch: int = 0,
    ) -> executor_pb2.RestoreCheckpointResponse:
        request = executor_pb2.RestoreCheckpointRequest(
            run_id=run_id,
            executor_id=executor_id,
            executor_type=self.target.executor_type if executor_type is None else executor_type,
            epoch=epoch,
        )
        if state is not None:
            request.state.CopyFrom(state)
        response: executor_pb2.RestoreCheckpointResponse = await self.call(
            "RestoreCheckpoint", request
        )
        return response

    async def end_run(self, run_id: str, epoch: int = 0) -> int:
        response: executor_pb2.EndRunResponse = await self.call(
            "EndRun", executor_pb2.EndRunRequest(run_id=run_id, epoch=epoch)
        )
        return response.released

    async def call(self, method: str, request: Any, timeout: float | None = None) -> Any:
        """`method` with the target's timeout (or `timeout`, in seconds)."""
        try:
            deadline = self.target.timeout if timeout is None else timeout
            response = await getattr(self._stub, method)(request, timeout=deadline)
        except grpc.aio.AioRpcError as exc:
            info = error_info(exc)
            reason = info.reason if info is not None else ""
            raise RpcFailed(method, exc.code(), exc.details() or "", reason) from exc
        got = getattr(response, "incarnation_id", self.incarnation_id)
        if got != self.incarnation_id:
            raise CheckFailed(
                f"{method} answered with incarnation_id {got!r}, but Describe said "
                f"{self.incarnation_id!r}: one process must keep one id (did it restart?)"
            )
        return response

    async def expect_status(
        self, code: grpc.StatusCode, what: str, call: Any, reason: str = ""
    ) -> str:
        """Await `call`, which must fail with `code` (and `reason` in the
        status details, if given); returns the status details."""
        try:
            await call
        except RpcFailed as exc:
            if exc.code != code:
                raise CheckFailed(
                    f"{what}: expected status {code.name}, got {exc.code.name}: {exc.details}"
                ) from exc
            if not exc.details.strip():
                raise CheckFailed(f"{what}: {code.name} came without a message saying why") from exc
            if reason and exc.reason != reason:
                got = repr(exc.reason) if exc.reason else "none"
                raise CheckFailed(
                    f"{what}: {code.name} must carry a google.rpc.ErrorInfo with reason "
                    f"{reason!r} (domain stepline.dev) in its status details; got {got}"
                ) from exc
            return exc.details
        raise CheckFailed(f"{what}: expected status {code.name}, but the call succeeded")


def same_state(a: Payload, b: Payload) -> bool:
    """Equal states: same type name, content type (empty means JSON) and bytes."""
    return (a.type_name, a.content_type or payloads.JSON, a.data) == (
        b.type_name,
        b.content_type or payloads.JSON,
        b.data,
    )


def show(payload: Payload, limit: int = 120) -> str:
    """A payload, briefly, for failure messages."""
    data = payload.data.decode("utf-8", "replace") if payload.data else ""
    if len(data) > limit:
        data = data[:limit] + f"... ({len(payload.data)} bytes)"
    return f"{payload.type_name or '(no type)'} {data}"
