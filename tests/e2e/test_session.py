"""The runner's Execute calls on a Session stream (`GrpcExecutors` with
`session=True`) against a real executor service on a loopback port: the same
answers and statuses as unary calls, calls of many runs at once on one
stream, and a stream that breaks failing its calls as UNAVAILABLE (as a unary
call to a stopped service does), then opened anew; a call past its timeout,
answered by the service itself, keeps its stream; cancels. With metrics or
tracing on, calls on the stream are timed and traced as unary ones are."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import grpc
import pytest
import pytest_asyncio
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import stepline.serve
from stepline import Executor, WorkflowContext, handler, payloads
from stepline.host import ExecutorHost
from stepline.limits import SESSION_CANCELS
from stepline.serve import ExecutorServer, serve_executors
from stepline.v1 import executor_pb2, executor_pb2_grpc
from stepline_runner.api.executor_client import GrpcExecutors
from stepline_runner.engine.ports import ExecutorCallError
from stepline_runner.observability.grpc_calls import ExecutorCalls
from stepline_runner.observability.metrics import RunnerMetrics
from tests.executors.stages import Stage, Token

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service() -> AsyncIterator[ExecutorServer]:
    server = await serve_executors({"stage": Stage})
    yield server
    await server.stop(None)


def request(run_id: str, value: int, executor_type: str = "stage") -> executor_pb2.ExecuteRequest:
    message = executor_pb2.ExecuteRequest(
        run_id=run_id, executor_id="a", executor_type=executor_type, superstep=1, attempt=1
    )
    message.messages.add(payload=payloads.encode(Token(value, 0, 10)))
    return message


async def test_the_same_answers_and_statuses_as_unary_calls(service: ExecutorServer) -> None:
    endpoint = f"127.0.0.1:{service.port}"
    executors = GrpcExecutors()
    try:
        unary = [await executors.execute(endpoint, request(f"u{i}", i)) for i in range(20)]
        # Twenty runs' calls in flight at once, on one stream.
        streamed = await asyncio.gather(
            *(executors.execute(endpoint, request(f"s{i}", i), session=True) for i in range(20))
        )
        with pytest.raises(ExecutorCallError) as unknown:
            await executors.execute(endpoint, request("x", 1, "nope"), session=True)
        with pytest.raises(ExecutorCallError) as unknown_unary:
            await executors.execute(endpoint, request("x", 1, "nope"))
    finally:
        await executors.close()

    assert [list(r.sent) for r in streamed] == [list(r.sent) for r in unary]
    assert unknown.value.code == unknown_unary.value.code == "NOT_FOUND"
    assert unknown.value.message == unknown_unary.value.message


async def test_a_broken_stream_fails_its_calls_as_unavailable_and_the_next_opens_anew() -> None:
    server = await serve_executors({"stage": Stage})
    endpoint = f"127.0.0.1:{server.port}"
    executors = GrpcExecutors()
    try:
        await executors.execute(endpoint, request("r", 1), session=True)
        await server.stop(None)
        with pytest.raises(ExecutorCallError) as broken:
            await executors.execute(endpoint, request("r", 2), session=True)
        # The same port again, a service that offers no Session: a refused
        # stream is UNAVAILABLE too (the run rolls back, then asks Describe).
        again = await serve_executors({"stage": Stage}, port=server.port, fast_path=False)
        try:
            # As the runner's rollback does: a restore waits for the service.
            await executors.restore(
                endpoint,
                executor_pb2.RestoreCheckpointRequest(
                    run_id="r", executor_id="a", executor_type="stage"
                ),
            )
            with pytest.raises(ExecutorCallError) as refused:
                await executors.execute(endpoint, request("r", 3), session=True)
            answered = await executors.execute(endpoint, request("r", 4))
        finally:
            await again.stop(None)
    finally:
        await executors.close()

    assert broken.value.code == "UNAVAILABLE"
    assert refused.value.code == "UNAVAILABLE" and "UNIMPLEMENTED" in refused.value.message
    assert answered.incarnation_id == again.host.incarnation_id


# Generic in grpc-stubs only: at run time the class takes no type arguments.
class Streams(grpc.aio.StreamStreamClientInterceptor):  # type: ignore[type-arg]
    """Counts the Session streams the runner opens."""

    def __init__(self) -> None:
        self.opened = 0

    async def intercept_stream_stream(
        self, continuation: Any, client_call_details: Any, request_iterator: Any
    ) -> Any:
        self.opened += 1
        return await continuation(client_call_details, request_iterator)


async def test_a_call_past_its_deadline_is_deadline_exceeded(service: ExecutorServer) -> None:
    """The service answers DEADLINE_EXCEEDED itself, within the runner's
    grace past the call's `timeout`: the stream is not cancelled under the
    handler (which would tell it it was cancelled, not late) and goes on
    serving the next call."""
    endpoint = f"127.0.0.1:{service.port}"
    slow = request("slow", 1)
    slow.messages[0].payload.CopyFrom(payloads.encode(Token(1, 0, 10, delay_ms=2000)))
    streams = Streams()
    executors = GrpcExecutors(interceptors=[streams])
    try:
        with pytest.raises(ExecutorCallError) as late:
            await executors.execute(endpoint, slow, timeout=0.2, session=True)
        assert (await executors.execute(endpoint, request("next", 1), session=True)).sent
    finally:
        await executors.close()
    assert late.value.code == "DEADLINE_EXCEEDED"
    assert streams.opened == 1


class Gate(Executor):
    """Holds each call until the test lets them all go; `entered` is set
    once `expected` calls are held."""

    held = 0
    expected = 1
    entered = asyncio.Event()
    go = asyncio.Event()

    @classmethod
    def reset(cls, expected: int) -> None:
        cls.held, cls.expected = 0, expected
        cls.entered, cls.go = asyncio.Event(), asyncio.Event()

    @handler
    async def hold(self, n: int, ctx: WorkflowContext) -> None:
        Gate.held += 1
        if Gate.held == Gate.expected:
            Gate.entered.set()
        await Gate.go.wait()
        await ctx.yield_output(n)


def held(run_id: str, n: int) -> executor_pb2.ExecuteRequest:
    message = executor_pb2.ExecuteRequest(run_id=run_id, executor_id="g", executor_type="gate")
    message.messages.add(payload=payloads.encode(n))
    return message


async def test_cancelling_a_call_fails_no_call_made_meanwhile() -> None:
    """The first call in flight has a stream to itself and reads its reply
    itself; cancelling it (its run stopped) cancels that stream, never the
    calls of other runs made meanwhile, which share another stream."""
    server = await serve_executors({"gate": Gate, "stage": Stage})
    endpoint = f"127.0.0.1:{server.port}"
    executors = GrpcExecutors()
    try:
        Gate.reset(expected=1)
        first = asyncio.ensure_future(executors.execute(endpoint, held("r1", 1), session=True))
        await Gate.entered.wait()  # on its own stream
        Gate.reset(expected=1)
        second = asyncio.ensure_future(executors.execute(endpoint, held("r2", 2), session=True))
        await Gate.entered.wait()  # on the shared one
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        Gate.go.set()
        answered = await second
        after = await executors.execute(endpoint, request("r3", 1), session=True)
    finally:
        Gate.go.set()
        await executors.close()
        await server.stop(None)

    assert [payloads.decode(o, int) for o in answered.outputs] == [2]
    assert after.sent  # a new stream of its own


class Stoppable(Executor):
    """Waits until cancelled, telling the test when it started waiting
    (`entered`) and when it was stopped (`stopped`, by run id)."""

    entered = asyncio.Event()
    stopped: ClassVar[dict[str, asyncio.Event]] = {}

    @handler
    async def wait(self, n: int, ctx: WorkflowContext) -> None:
        Stoppable.entered.set()
        try:
            await asyncio.Event().wait()  # until cancelled
        except asyncio.CancelledError:
            Stoppable.stopped[ctx.run_id].set()
            raise


def stoppable(run_id: str) -> executor_pb2.ExecuteRequest:
    Stoppable.stopped[run_id] = asyncio.Event()
    message = executor_pb2.ExecuteRequest(run_id=run_id, executor_id="w", executor_type="wait")
    message.messages.add(payload=payloads.encode(1))
    return message


async def test_a_cancelled_call_stops_its_handler_on_either_stream() -> None:
    """A call given up (its run cancelled) stops its handler as a unary
    call's does: the lone stream's by the stream's cancel, the shared
    stream's by a `cancel` request; calls of other runs go on."""
    server = await serve_executors({"wait": Stoppable, "stage": Stage})
    endpoint = f"127.0.0.1:{server.port}"
    executors = GrpcExecutors()
    try:
        Stoppable.entered.clear()
        lone = asyncio.ensure_future(executors.execute(endpoint, stoppable("lone"), session=True))
        await Stoppable.entered.wait()
        Stoppable.entered.clear()
        shared = asyncio.ensure_future(
            executors.execute(endpoint, stoppable("shared"), session=True)
        )
        await Stoppable.entered.wait()
        shared.cancel()
        async with asyncio.timeout(10):  # a bound, not a wait: it stops at once
            await Stoppable.stopped["shared"].wait()
        assert not lone.done() and not Stoppable.stopped["lone"].is_set()
        lone.cancel()
        async with asyncio.timeout(10):
            await Stoppable.stopped["lone"].wait()
        after = await executors.execute(endpoint, request("after", 1), session=True)
    finally:
        await executors.close()
        await server.stop(None)

    for call in (lone, shared):
        assert call.cancelled()
    assert after.sent


async def test_a_cancel_of_no_call_in_flight_is_ignored(service: ExecutorServer) -> None:
    """A cancel names a call of its own stream: one never made, or one that
    has ended, stops nothing and is answered by nothing; the stream goes on."""
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.port}")
    stub: executor_pb2_grpc.ExecutorServiceAsyncStub = executor_pb2_grpc.ExecutorServiceStub(
        channel
    )
    try:
        stream = stub.Session()  # type: ignore[call-arg]  # requests go by write
        await stream.write(executor_pb2.SessionRequest(call_id=99, cancel=True))  # never made
        await stream.write(executor_pb2.SessionRequest(call_id=1, execute=request("c1", 1)))
        first = await stream.read()
        assert isinstance(first, executor_pb2.SessionReply)
        answered = [first]
        await stream.write(executor_pb2.SessionRequest(call_id=1, cancel=True))  # ended
        await stream.write(executor_pb2.SessionRequest(call_id=2, execute=request("c2", 2)))
        await stream.done_writing()
        while isinstance(reply := await stream.read(), executor_pb2.SessionReply):
            answered.append(reply)  # until the end of the stream (grpc.aio.EOF)
        said = tuple(await stream.initial_metadata())
    finally:
        await channel.close(None)

    assert SESSION_CANCELS in said
    assert [r.call_id for r in answered] == [1, 2]
    assert all(not r.code and r.execute.sent for r in answered)


async def test_closing_the_streams_under_a_call_fails_it_as_unavailable() -> None:
    server = await serve_executors({"gate": Gate})
    endpoint = f"127.0.0.1:{server.port}"
    executors = GrpcExecutors()
    try:
        Gate.reset(expected=2)
        calls = [
            asyncio.ensure_future(executors.execute(endpoint, held(f"c{i}", i), session=True))
            for i in range(2)
        ]
        await Gate.entered.wait()  # one on each stream
        await executors.close()
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
    finally:
        Gate.go.set()
        await server.stop(None)

    for outcome in outcomes:
        assert isinstance(outcome, ExecutorCallError), outcome
        assert outcome.code == "UNAVAILABLE" and "the runner closed it" in outcome.message


async def test_calls_on_the_stream_are_timed_and_traced_as_unary_ones_are(
    service: ExecutorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Metrics or tracing on keep the Session path: each call on it gets the
    unary call's metric samples and client span, and its trace context
    travels in its request (a unary call's travels in its metadata)."""
    carried: list[dict[str, str]] = []
    served = stepline.serve.session_reply

    async def session_reply(
        host: ExecutorHost, call: executor_pb2.SessionRequest
    ) -> executor_pb2.SessionReply:
        carried.append(dict(call.trace_context))
        return await served(host, call)

    monkeypatch.setattr(stepline.serve, "session_reply", session_reply)
    spans = InMemorySpanExporter()
    provider = TracerProvider()  # this test's own: the process-wide one stays off
    provider.add_span_processor(SimpleSpanProcessor(spans))
    metrics = RunnerMetrics()
    timed = ExecutorCalls(metrics, provider.get_tracer("test"))
    executors = GrpcExecutors([timed], session_calls=timed)
    endpoint = f"127.0.0.1:{service.port}"
    try:
        for i in range(3):
            await executors.execute(endpoint, request(f"t{i}", i), session=True)
        with pytest.raises(ExecutorCallError):
            await executors.execute(endpoint, request("t", 1, "nope"), session=True)
    finally:
        await executors.close()

    assert len(carried) == 4  # every call went on the stream
    finished = spans.get_finished_spans()
    assert [s.name for s in finished] == ["Execute stage"] * 3 + ["Execute nope"]
    for span, context in zip(finished, carried, strict=True):
        assert span.kind == SpanKind.CLIENT
        assert span.attributes is not None and span.attributes["stepline.session"] is True
        assert context["traceparent"].split("-")[1:3] == [
            f"{span.context.trace_id:032x}",
            f"{span.context.span_id:016x}",
        ]
    assert finished[-1].status.status_code == StatusCode.ERROR
    registry = metrics.registry
    labels = {"workflow": "", "executor_type": "stage", "method": "Execute"}
    assert registry.get_sample_value("stepline_executor_call_duration_seconds_count", labels) == 3
    failed = {"workflow": "", "executor_type": "nope", "method": "Execute", "code": "NOT_FOUND"}
    assert registry.get_sample_value("stepline_executor_call_errors_total", failed) == 1
