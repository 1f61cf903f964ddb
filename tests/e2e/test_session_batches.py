"""Several calls in one Session message, against a real executor service on
a loopback port. Execute calls asked for while a write is under way go in
one request (`SessionRequest.calls`) on a stream whose service says it takes
them, and are answered as unary calls are. EndRun on the stream
(`features.session_end_run`): the calls asked for together go in one message
and release what unary calls would; a runner whose runs end on such a
service makes no unary EndRun, and the service keeps no object of them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

import stepline._session
import stepline.limits
import stepline.serve
from stepline import WorkflowBuilder, payloads
from stepline.host import ExecutorHost
from stepline.limits import SESSION_END_RUNS
from stepline.serve import serve_executors
from stepline.v1 import events_pb2, executor_pb2, executor_pb2_grpc
from stepline_runner.api.executor_client import GrpcExecutors
from stepline_runner.api.server import start_runner
from tests.executors.stages import Stage, Token


def execute(run_id: str, executor_id: str) -> executor_pb2.ExecuteRequest:
    message = executor_pb2.ExecuteRequest(
        run_id=run_id, executor_id=executor_id, executor_type="stage", superstep=1, attempt=1
    )
    message.messages.add(payload=payloads.encode(Token(1, 0, 10)))
    return message


async def test_calls_made_together_go_in_few_requests_and_answer_as_unary_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = await serve_executors({"stage": Stage})
    endpoint = f"127.0.0.1:{server.port}"
    requests: list[executor_pb2.SessionRequest] = []
    read = stepline._session.SessionCalls._read

    async def counted(calls: stepline._session.SessionCalls) -> executor_pb2.SessionRequest | None:
        request = await read(calls)
        if request is not None:
            requests.append(request)
        return request

    monkeypatch.setattr(stepline._session.SessionCalls, "_read", counted)
    executors = GrpcExecutors()
    try:
        unary = [await executors.execute(endpoint, execute(f"u{i}", "a")) for i in range(200)]
        # Calls made before the shared stream's initial metadata came go one by one.
        await asyncio.gather(
            *(executors.execute(endpoint, execute(f"w{i}", "a"), session=True) for i in range(5))
        )
        requests.clear()
        streamed = await asyncio.gather(
            *(executors.execute(endpoint, execute(f"s{i}", "a"), session=True) for i in range(200))
        )
    finally:
        await executors.close()
        await server.stop(None)

    assert [list(r.sent) for r in streamed] == [list(r.sent) for r in unary]
    batched = [r for r in requests if r.calls]
    assert batched, "no request carried several calls"
    assert sum(len(r.calls) for r in batched) + len(requests) - len(batched) == 200
    assert len(requests) < 200


async def test_end_runs_asked_for_together_go_in_one_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = await serve_executors({"stage": Stage})
    endpoint = f"127.0.0.1:{server.port}"
    messages: list[executor_pb2.SessionRequest] = []
    reply = stepline.serve.session_reply

    async def counted(
        host: ExecutorHost, request: executor_pb2.SessionRequest
    ) -> executor_pb2.SessionReply:
        messages.append(request)
        return await reply(host, request)

    monkeypatch.setattr(stepline.serve, "session_reply", counted)
    executors = GrpcExecutors()
    try:
        assert (await executors.describe(endpoint)).features.session_end_run
        for i in range(10):
            for executor_id in ("a", "b"):
                await executors.execute(endpoint, execute(f"r{i}", executor_id), session=True)
        assert server.host.object_count == 20
        ends = [executor_pb2.EndRunRequest(run_id=f"r{i}") for i in range(10)]
        ends.append(executor_pb2.EndRunRequest(run_id="never-seen"))
        replies = await asyncio.gather(
            *(executors.end_run(endpoint, end, session=True) for end in ends)
        )
        again = await executors.end_run(endpoint, ends[0], session=True)
        unary_again = await executors.end_run(endpoint, ends[0])
    finally:
        await executors.close()
        await server.stop(None)

    assert server.host.object_count == 0
    ending = [m for m in messages if m.end_run]
    assert [[r.run_id for r in m.end_run] for m in ending] == [
        [e.run_id for e in ends],
        ["r0"],
    ]
    # One reply for the message, to each of its callers: the objects it released.
    assert {r.released for r in replies} == {20}
    assert again.released == unary_again.released == 0


async def test_a_runner_ends_its_runs_on_the_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unary: list[executor_pb2.EndRunRequest] = []
    end_run = stepline.serve._Servicer.EndRun

    async def counted(
        servicer: stepline.serve._Servicer, request: executor_pb2.EndRunRequest, context: object
    ) -> executor_pb2.EndRunResponse:
        unary.append(request)
        return await end_run(servicer, request, context)  # type: ignore[arg-type]

    monkeypatch.setattr(stepline.serve._Servicer, "EndRun", counted)
    service = await serve_executors({"stage": Stage})
    runner = await start_runner(tmp_path / "runner.db")
    try:
        endpoint = f"127.0.0.1:{service.port}"
        builder = WorkflowBuilder("chain")
        for node in ("a", "b"):
            builder.add_executor(node, endpoint, type="stage")
        await runner.runner.register_workflow(
            builder.add_chain(["a", "b"]).set_start_executor("a").build()
        )
        token = payloads.encode(Token(1, 0, 2))
        started = await asyncio.gather(
            *(runner.runner.start_run("chain", token) for _ in range(20))
        )
        for run in started:
            if (task := runner.runner.runs.task(run.run_id)) is not None:
                await task  # its EndRun included
        statuses = {(await runner.runner.get_run(r.run_id)).status for r in started}
    finally:
        await runner.stop()
        await service.stop(None)

    assert statuses == {events_pb2.RUN_STATUS_COMPLETED}
    assert service.host.object_count == 0
    assert unary == []


async def test_a_request_carries_calls_up_to_its_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    server = await serve_executors({"stage": Stage})
    endpoint = f"127.0.0.1:{server.port}"
    sizes: list[int] = []
    read = stepline._session.SessionCalls._read

    async def counted(calls: stepline._session.SessionCalls) -> executor_pb2.SessionRequest | None:
        request = await read(calls)
        if request is not None:
            sizes.append(request.ByteSize())
        return request

    monkeypatch.setattr(stepline._session.SessionCalls, "_read", counted)
    monkeypatch.setattr(stepline.limits, "SESSION_BATCH_BYTES", 300_000)

    def large(run_id: str) -> executor_pb2.ExecuteRequest:
        request = execute(run_id, "a")
        request.shared_state["pad"].data = b"x" * 100_000  # the executor reads none of it
        return request

    executors = GrpcExecutors()
    try:
        await asyncio.gather(
            *(executors.execute(endpoint, execute(f"w{i}", "a"), session=True) for i in range(5))
        )
        sizes.clear()
        streamed = await asyncio.gather(
            *(executors.execute(endpoint, large(f"s{i}"), session=True) for i in range(40))
        )
    finally:
        await executors.close()
        await server.stop(None)

    assert len(streamed) == 40 and all(r.sent for r in streamed)
    assert max(sizes) <= 300_000 + 1_000
    assert any(size > 150_000 for size in sizes)  # some carried several


async def test_an_end_run_the_stream_refuses_goes_unary(monkeypatch: pytest.MonkeyPatch) -> None:
    reply = stepline.serve.session_reply

    async def refusing(
        host: ExecutorHost, request: executor_pb2.SessionRequest
    ) -> executor_pb2.SessionReply:
        if request.end_run:  # as a build that took it for an Execute of nothing might
            return executor_pb2.SessionReply(call_id=request.call_id, code=5, message="nope")
        return await reply(host, request)

    monkeypatch.setattr(stepline.serve, "session_reply", refusing)
    server = await serve_executors({"stage": Stage})
    endpoint = f"127.0.0.1:{server.port}"
    executors = GrpcExecutors()
    try:
        for executor_id in ("a", "b"):
            await executors.execute(endpoint, execute("r", executor_id), session=True)
        ended = await executors.end_run(endpoint, executor_pb2.EndRunRequest(run_id="r"), True)
    finally:
        await executors.close()
        await server.stop(None)

    assert ended.released == 2
    assert server.host.object_count == 0


async def test_end_runs_go_at_most_so_many_in_one_message(monkeypatch: pytest.MonkeyPatch) -> None:
    server = await serve_executors({"stage": Stage})
    endpoint = f"127.0.0.1:{server.port}"
    messages: list[int] = []
    reply = stepline.serve.session_reply

    async def counted(
        host: ExecutorHost, request: executor_pb2.SessionRequest
    ) -> executor_pb2.SessionReply:
        messages.append(len(request.end_run))
        return await reply(host, request)

    monkeypatch.setattr(stepline.serve, "session_reply", counted)
    executors = GrpcExecutors()
    channel = grpc.aio.insecure_channel(endpoint)
    stub = executor_pb2_grpc.ExecutorServiceStub(channel)
    try:
        ends = [executor_pb2.EndRunRequest(run_id=f"r{i}") for i in range(SESSION_END_RUNS + 5)]
        await asyncio.gather(*(executors.end_run(endpoint, end, session=True) for end in ends))
        stream = stub.Session()  # type: ignore[call-arg]  # requests go by write
        await stream.write(executor_pb2.SessionRequest(call_id=1, end_run=ends))
        refused = await stream.read()
        assert isinstance(refused, executor_pb2.SessionReply)
        stream.cancel()
    finally:
        await channel.close(None)
        await executors.close()
        await server.stop(None)

    assert sorted(messages[:2]) == [5, SESSION_END_RUNS]  # on the two streams, either first
    assert refused.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert f"at most {SESSION_END_RUNS}" in refused.message
