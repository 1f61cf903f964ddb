"""`ExecutorHost`: the ExecutorService's behaviour, without the transport.

It keeps one executor object per (run, executor id) and turns requests into
responses. `stepline.serve` puts it behind gRPC; the runner's unit tests call
it in-process.
"""

from __future__ import annotations

import inspect
import traceback
import uuid
from collections.abc import Awaitable, Mapping
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from stepline import __version__, payloads
from stepline.executor import (
    BATCH_TYPE,
    Executor,
    HandlerSpec,
    ResponseHandlerSpec,
    WorkflowContext,
)
from stepline.factories import ExecutorFactory, ExecutorFactoryError, Maker, maker
from stepline.fencing import EpochFence, StaleEpoch
from stepline.limits import MAX_STATE_BYTES
from stepline.lost_state import warn_if_state_is_lost
from stepline.retry import NonRetryableError
from stepline.telemetry import NO_INSTRUMENTS, HostInstruments
from stepline.v1 import executor_pb2, payload_pb2

__all__ = [
    "ExecutorFactory",
    "ExecutorFactoryError",
    "ExecutorHost",
    "NoSuchExecutorObject",
    "StaleEpoch",
    "StateTooLarge",
    "UnknownExecutorType",
]

STATE_CONTENT_TYPE = payloads.JSON
# Compact and sorted, so that an unchanged state has the same hash.
_state_json = payloads.json_encoder()
T = TypeVar("T")


class UnknownExecutorType(LookupError):
    """The service hosts no executor type of that name."""


class StateTooLarge(ValueError):
    """An executor's state is over `MAX_STATE_BYTES`."""


class NoSuchExecutorObject(LookupError):
    """The service holds no object for that (run, executor): it never ran here,
    its run ended, or the service restarted since."""


class ExecutorHost:
    """Hosts executor types and the per-run objects made from them."""

    def __init__(
        self,
        executors: Mapping[str, type[Executor] | ExecutorFactory],
        instruments: HostInstruments = NO_INSTRUMENTS,
        *,
        fast_path: bool = True,
    ) -> None:
        """`executors`: type name -> `Executor` class or factory (see
        `stepline.factories`); `ExecutorFactoryError` if one cannot work.
        `instruments`: spans and metrics around each handler call.
        `fast_path`: advertise and answer `ExecuteRequest.return_state` (the
        state comes back with Execute's reply) and the Session stream; off,
        every call is unary and every state goes through SaveCheckpoint
        alone, as with the simplest service."""
        if not executors:
            raise ExecutorFactoryError("an executor service must host at least one executor type")
        self._makers: dict[str, Maker] = {
            name: maker(name, factory) for name, factory in executors.items()
        }
        classes = {name: m.executor_class for name, m in self._makers.items()}
        for name, cls in classes.items():
            warn_if_state_is_lost(name, cls)
        self._specs = {name: cls.handler_specs() for name, cls in classes.items()}
        self._response_specs = {name: cls.response_handler_specs() for name, cls in classes.items()}
        self._objects: dict[tuple[str, str], Executor] = {}
        # The executor ids of each run's objects: an EndRun finds its own
        # without a scan of every run's (a Session EndRun may end 500 at once).
        self._by_run: dict[str, set[str]] = {}
        self.incarnation_id = uuid.uuid4().hex
        self.instruments = instruments
        # Refuses the calls of a runner another one superseded (executor.proto,
        # "Fencing"); a run it forgets (un-ended too long) takes its objects with it.
        self.fence = EpochFence(on_forget=self._release)
        self.fast_path = fast_path

    @property
    def object_count(self) -> int:
        """How many (run, executor) objects are alive."""
        return len(self._objects)

    def describe(self) -> executor_pb2.DescribeResponse:
        response = executor_pb2.DescribeResponse(
            incarnation_id=self.incarnation_id, sdk=f"stepline-python/{__version__}"
        )
        # The Session stream is the transport's (`stepline.serve`), on with the rest.
        response.features.state_with_execute = self.fast_path
        response.features.session = self.fast_path
        response.features.session_end_run = self.fast_path
        for name, specs in self._specs.items():
            answers = self._response_specs[name]
            every: list[HandlerSpec | ResponseHandlerSpec] = [*specs.values(), *answers.values()]
            response.executor_types.add(
                name=name,
                input_types=sorted(specs),
                output_types=sorted({t for s in every for t in s.sends}),
                yield_types=sorted({t for s in every for t in s.yields}),
                response_types=sorted({response for _, response in answers}),
            )
        return response

    async def execute(
        self,
        request: executor_pb2.ExecuteRequest,
        result: executor_pb2.ExecuteResponse | None = None,
    ) -> executor_pb2.ExecuteResponse:
        """The response to `request`, made in `result` when given (a Session
        reply's, so that it is not copied there), else in a new one."""
        run_id, executor_id = request.run_id, request.executor_id
        self.fence.admit(run_id, request.epoch)
        key = (run_id, executor_id)
        executor = self._objects.get(key)
        if executor is None:
            executor = self._objects[key] = self._create(request.executor_type, executor_id)
            self._by_run.setdefault(run_id, set()).add(executor_id)
        executor_type = request.executor_type or executor_id
        specs = self._specs.get(executor_type)
        if specs is None:
            raise self._unknown(executor_type)
        answers = self._response_specs[executor_type]
        if result is None:
            result = executor_pb2.ExecuteResponse()
        result.incarnation_id = self.incarnation_id
        ctx: WorkflowContext[Any, Any] = WorkflowContext(
            run_id=run_id,
            executor_id=executor_id,
            superstep=request.superstep,
            attempt=request.attempt,
            shared_state=dict(request.shared_state),
            result=result,
            answerable=answers.keys(),
        )
        observed = self.instruments.active
        try:
            for answer in request.responses:
                handler = _response_handler_for(answers, answer, executor_id)
                with self._observed(request, executor_type, handler.name):
                    await getattr(executor, handler.name)(
                        payloads.decode(answer.request.data, handler.request_type),
                        payloads.decode(answer.response, handler.response_type),
                        ctx,
                    )
            for message in request.messages:
                spec = _handler_for(specs, message.payload, executor_id)
                value = _decode(message.payload, spec)
                if not observed:  # no span nor metrics: no context manager either
                    await getattr(executor, spec.name)(value, ctx)
                    continue
                with self._observed(request, executor_type, spec.name):
                    await getattr(executor, spec.name)(value, ctx)
        except Exception as exc:
            result.Clear()  # what the handlers did before failing goes nowhere
            result.incarnation_id = self.incarnation_id
            error = result.error
            error.type = type(exc).__name__
            error.message = str(exc)
            error.traceback = traceback.format_exc()
            error.executor_id = executor_id
            error.non_retryable = isinstance(exc, NonRetryableError)
            return result
        if request.return_state and self.fast_path:
            await self._return_state(request, result)
        return result

    async def _return_state(
        self, request: executor_pb2.ExecuteRequest, result: executor_pb2.ExecuteResponse
    ) -> None:
        """Put what SaveCheckpoint would answer now into `result.checkpoint`;
        leave it unset when SaveCheckpoint would fail, so that the runner's
        SaveCheckpoint call reports why, with its status."""
        run_id, executor_id = request.run_id, request.executor_id
        try:
            # SaveCheckpoint's checks again: the handlers may have awaited
            # while another runner took the run over, or the run ended.
            self.fence.admit(run_id, request.epoch)
            executor = self._objects[(run_id, executor_id)]
            executor_type = request.executor_type or executor_id
            data = await _state_data(executor, executor_type)
        except Exception:  # SaveCheckpoint raises it again, as a status
            return
        if len(data) > MAX_STATE_BYTES:
            return
        size = result.ByteSize()
        checkpoint = result.checkpoint
        checkpoint.incarnation_id = self.incarnation_id
        known = request.known_state_hash
        if known and payloads.data_hash(data) == known:
            checkpoint.unchanged = True
        else:  # made in place: what _state_payload makes
            state = checkpoint.state
            state.type_name = f"{executor_type}.state"
            state.content_type = STATE_CONTENT_TYPE
            state.data = data
        # Both in one reply must fit the message cap; else the state goes alone.
        if size + checkpoint.ByteSize() > MAX_STATE_BYTES:
            result.ClearField("checkpoint")

    def _observed(
        self, request: executor_pb2.ExecuteRequest, executor_type: str, handler: str
    ) -> AbstractContextManager[None]:
        return self.instruments.handler(
            executor_type, handler, request.run_id, request.executor_id, request.superstep
        )

    async def save(
        self, request: executor_pb2.SaveCheckpointRequest
    ) -> executor_pb2.SaveCheckpointResponse:
        self.fence.admit(request.run_id, request.epoch)
        executor = self._objects.get((request.run_id, request.executor_id))
        if executor is None:
            raise NoSuchExecutorObject(
                f"no state for run {request.run_id!r}, executor {request.executor_id!r} "
                f"in this service (incarnation {self.incarnation_id}): it never ran here, "
                "its run ended, or the service restarted"
            )
        executor_type = request.executor_type or request.executor_id
        state = _state_payload(executor_type, await _state_data(executor, executor_type))
        if len(state.data) > MAX_STATE_BYTES:
            raise StateTooLarge(
                f"the state of executor {request.executor_id!r} is {len(state.data):,} bytes, over "
                f"the cap of {MAX_STATE_BYTES:,}; keep large data outside the state and save a "
                "reference to it"
            )
        response = executor_pb2.SaveCheckpointResponse(incarnation_id=self.incarnation_id)
        if request.known_state_hash and payloads.state_hash(state) == request.known_state_hash:
            response.unchanged = True
        else:
            response.state.CopyFrom(state)
        return response

    async def restore(
        self, request: executor_pb2.RestoreCheckpointRequest
    ) -> executor_pb2.RestoreCheckpointResponse:
        self.fence.admit(request.run_id, request.epoch)
        executor = self._create(request.executor_type, request.executor_id)
        if request.HasField("state") and request.state.data:
            state = payloads.json_value(request.state)
            if not isinstance(state, dict):
                raise payloads.PayloadError("an executor state must be a JSON object")
            try:
                await _result(executor.on_checkpoint_restore(state))
            except (KeyError, TypeError, ValueError) as exc:
                # A state of another shape than this executor saves.
                raise payloads.PayloadError(
                    f"executor {request.executor_id!r} cannot restore this state: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
        self._objects[(request.run_id, request.executor_id)] = executor
        self._by_run.setdefault(request.run_id, set()).add(request.executor_id)
        return executor_pb2.RestoreCheckpointResponse(incarnation_id=self.incarnation_id)

    def end_run(self, request: executor_pb2.EndRunRequest) -> executor_pb2.EndRunResponse:
        if not self.fence.end(request.run_id, request.epoch):
            return executor_pb2.EndRunResponse(released=0)  # a superseded runner's
        return executor_pb2.EndRunResponse(released=self._release(request.run_id))

    def _release(self, run_id: str) -> int:
        executor_ids = self._by_run.pop(run_id, ())
        for executor_id in executor_ids:
            self._objects.pop((run_id, executor_id), None)
        return len(executor_ids)

    def _create(self, executor_type: str, executor_id: str) -> Executor:
        make = self._makers.get(executor_type or executor_id)
        if make is None:
            raise self._unknown(executor_type or executor_id)
        return make(executor_id)

    def _unknown(self, executor_type: str) -> UnknownExecutorType:
        return UnknownExecutorType(
            f"this service hosts no executor type {executor_type!r}; "
            f"it hosts: {', '.join(sorted(self._makers))}"
        )


async def _result(value: T | Awaitable[T]) -> T:
    """A hook's result, awaited if the hook is `async def`."""
    if inspect.isawaitable(value):
        return await value
    return value


def _response_handler_for(
    answers: Mapping[tuple[str, str], ResponseHandlerSpec],
    answer: payload_pb2.InputResponse,
    executor_id: str,
) -> ResponseHandlerSpec:
    asked, got = answer.request.data.type_name, answer.response.type_name
    handler = answers.get((asked, got)) or answers.get(("*", got))
    if handler is None:
        takes = ", ".join(f"({q}, {r})" for q, r in sorted(answers)) or "none"
        raise payloads.PayloadError(
            f"executor {executor_id!r} has no response handler for a response of type {got!r} "
            f"to a request of type {asked!r}; it takes: {takes}"
        )
    return handler


def _handler_for(
    specs: dict[str, HandlerSpec], payload: payload_pb2.Payload, executor_id: str
) -> HandlerSpec:
    spec = specs.get(payload.type_name) or specs.get("*")
    if spec is None:
        raise payloads.PayloadError(
            f"executor {executor_id!r} has no handler for type {payload.type_name!r}; "
            f"it takes: {', '.join(sorted(specs))}"
        )
    return spec


def _decode(payload: payload_pb2.Payload, spec: HandlerSpec) -> object:
    if spec.type_name != BATCH_TYPE:
        return payloads.decode(payload, spec.message_type)
    batch = payloads.decode(payload, payload_pb2.MessageBatch)
    (item_type,) = spec.message_type.__args__
    return [payloads.decode(m.payload, item_type) for m in batch.messages]


async def _state_data(executor: Executor, executor_type: str) -> bytes:
    """The executor's state (`on_checkpoint_save`, plain or awaited) as JSON."""
    state = executor.on_checkpoint_save()
    if inspect.isawaitable(state):
        state = await state
    if not isinstance(state, dict):
        raise TypeError(
            f"on_checkpoint_save of executor type {executor_type!r} returned "
            f"{type(state).__name__}, not a dict"
        )
    return _state_json(state)


def _state_payload(executor_type: str, data: bytes) -> payload_pb2.Payload:
    return payload_pb2.Payload(
        type_name=f"{executor_type}.state", content_type=STATE_CONTENT_TYPE, data=data
    )
