"""Fuzzing every RunnerService RPC with mutated requests: the runner stays up,
answers a request that parses with a precise status (never UNKNOWN or
INTERNAL), and a refused call leaves the database exactly as it was.

Seeded and bounded in time: STEPLINE_FUZZ_SEED (default 12) and
STEPLINE_FUZZ_SECONDS (default 8) change them; a failure prints the seed and
the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sqlite3
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor, message

from stepline import RunFailedError, RunnerClient, SteplineError, payloads
from stepline.limits import GRPC_MESSAGE_OPTIONS
from stepline.v1 import events_pb2 as E
from stepline.v1 import runner_pb2
from tests.executors.stages import Token
from tests.support.cluster import Cluster, cluster_fixture
from tests.support.runs import stage_loop

pytestmark = pytest.mark.asyncio(loop_scope="module")

cluster = cluster_fixture("stages", "stages", scope="module")

SEED = int(os.environ.get("STEPLINE_FUZZ_SEED", "12"))
SECONDS = float(os.environ.get("STEPLINE_FUZZ_SECONDS", "8"))
SERVICE = runner_pb2.DESCRIPTOR.services_by_name["RunnerService"]
F = descriptor.FieldDescriptor
NOT_PRECISE = (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)
# Streams stay open by design; the fuzzer stops reading after this long.
STREAM_SECONDS = 0.3


def nasty_strings(known: list[str]) -> list[str]:
    return [
        "",
        "x" * 70_000,
        "a\x00b",
        "\u202eevil",
        "../../etc/passwd",
        "é" * 300,
        "%s%n{}",
        " ",
        "\n",
        "' OR 1=1 --",
        "\ud7ff\U0010ffff",
        *known,
    ]


class Mutator:
    def __init__(self, rng: random.Random, known: list[str]) -> None:
        self.rng = rng
        self.strings = nasty_strings(known)

    def mutate(self, msg: message.Message, depth: int = 0) -> None:
        for field in msg.DESCRIPTOR.fields:
            if self.rng.random() < 0.35:
                self.field(msg, field, depth)

    def field(self, msg: message.Message, field: Any, depth: int) -> None:
        rng = self.rng
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            target = getattr(msg, field.name)
            key_field, value_field = field.message_type.fields
            for _ in range(rng.choice([1, 2, 50])):
                key = self.scalar(key_field)
                if value_field.message_type is not None:
                    self.mutate(target[key], depth + 1)
                else:
                    target[key] = self.scalar(value_field)
            return
        if field.is_repeated:
            target = getattr(msg, field.name)
            if rng.random() < 0.3:
                del target[:]
            for _ in range(rng.choice([1, 3, 200])):
                if field.message_type is not None:
                    if depth < 4:
                        self.mutate(target.add(), depth + 1)
                else:
                    target.append(self.scalar(field))
            return
        if field.message_type is not None:
            if rng.random() < 0.2:
                msg.ClearField(field.name)
            elif depth < 4:
                self.mutate(getattr(msg, field.name), depth + 1)
            return
        setattr(msg, field.name, self.scalar(field))

    def scalar(self, field: Any) -> Any:
        rng = self.rng
        t = field.type
        if t == F.TYPE_STRING:
            return rng.choice(self.strings)
        if t == F.TYPE_BYTES:
            return rng.choice([b"", b"\x00\xff", b"{", b'{"value": 1}', rng.randbytes(64)])
        if t == F.TYPE_BOOL:
            return rng.random() < 0.5
        if t == F.TYPE_ENUM:
            return rng.choice([*(v.number for v in field.enum_type.values), 999, -1])
        if t in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
            return rng.choice([0.0, -1.0, 1e308, float("nan"), float("inf")])
        if t in (F.TYPE_UINT32, F.TYPE_FIXED32):
            return rng.choice([0, 1, 2**32 - 1])
        if t in (F.TYPE_UINT64, F.TYPE_FIXED64):
            return rng.choice([0, 1, 2**64 - 1])
        if t in (F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32):
            return rng.choice([0, 1, -1, 2**31 - 1, -(2**31)])
        return rng.choice([0, 1, -1, 2**63 - 1, -(2**63)])


def dump(cluster: Cluster) -> list[str]:
    return cluster.dump()


def running(cluster: Cluster) -> list[tuple[str, str]]:
    """(namespace, run id) of the runs still running: a fuzzed request may name
    any namespace, and the store keys the run by both (see namespaces.py)."""
    with sqlite3.connect(cluster.db) as db:
        rows = db.execute(
            "SELECT namespace, run_id FROM runs WHERE status IN (?, ?)",
            (E.RUN_STATUS_RUNNING, E.RUN_STATUS_RUNNING_WITH_PENDING_REQUESTS),
        ).fetchall()
    return [(ns, key.removeprefix(f"{ns}/")) for ns, key in rows]


async def settle(client: RunnerClient, cluster: Cluster) -> None:
    """Let runs a successful call started end, so the next snapshot is still."""
    for namespace, run_id in running(cluster):
        client.namespace = namespace
        try:
            async with asyncio.timeout(20):
                await client.wait(run_id)
        except RunFailedError:
            pass  # ended: fuzzed inputs often fail their run
        except TimeoutError:
            with contextlib.suppress(SteplineError):
                await client.cancel_run(run_id)
    client.namespace = ""


async def call(
    channel: grpc.aio.Channel, method: descriptor.MethodDescriptor, request: bytes
) -> grpc.StatusCode:
    path = f"/{SERVICE.full_name}/{method.name}"
    if method.server_streaming:
        stream = channel.unary_stream(path, None, None)(request, timeout=STREAM_SECONDS)
        try:
            async for _ in stream:
                pass
        except grpc.aio.AioRpcError as exc:
            return exc.code()
        return grpc.StatusCode.OK
    try:
        await channel.unary_unary(path, None, None)(request, timeout=30)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def test_mutated_requests_to_every_rpc_get_precise_statuses_and_change_nothing(
    cluster: Cluster,
) -> None:
    client = cluster.client()
    definition = stage_loop("fuzz", cluster.addresses, max_supersteps=20)
    await client.register_workflow(definition)
    done = await client.run("fuzz", Token(1, 0, 3))
    run = await client.get_run(done.run.run_id)
    checkpoints = [c async for c in client.list_checkpoints(run.run_id)]
    known = [
        "fuzz",
        run.run_id,
        run.latest_checkpoint_id,
        checkpoints[0].checkpoint_id,
        *cluster.addresses,
        "a",
        "Token",
    ]
    bases: dict[str, Callable[[], message.Message]] = {
        "RegisterWorkflow": lambda: runner_pb2.RegisterWorkflowRequest(workflow=definition),
        "StartRun": lambda: runner_pb2.StartRunRequest(
            workflow_id="fuzz", input=payloads.encode(Token(1, 0, 3))
        ),
        "ResumeRun": lambda: runner_pb2.ResumeRunRequest(
            checkpoint_id=checkpoints[0].checkpoint_id
        ),
    }
    rng = random.Random(SEED)
    mutator = Mutator(rng, known)
    loop_time = asyncio.get_running_loop().time
    deadline = loop_time() + SECONDS
    calls = 0
    seen: dict[str, int] = {}
    async with grpc.aio.insecure_channel(
        cluster.runner.address, options=GRPC_MESSAGE_OPTIONS
    ) as channel:
        while loop_time() < deadline:
            method = rng.choice(list(SERVICE.methods))
            request_class = runner_pb2.__dict__[method.input_type.name]
            request = bases.get(method.name, request_class)()
            for field in request.DESCRIPTOR.fields:  # known ids where they fit
                if field.type == F.TYPE_STRING and not field.is_repeated:
                    setattr(request, field.name, rng.choice(known))
            mutator.mutate(request)
            body = request.SerializeToString()
            garbage = rng.random() < 0.05
            if garbage:
                body = rng.randbytes(rng.randint(1, 40))
            before = dump(cluster)
            code = await call(channel, method, body)
            calls += 1
            seen[code.name] = seen.get(code.name, 0) + 1
            context = f"seed {SEED}, call {calls}: {method.name}({str(request)[:300]!r})"
            if not garbage:
                assert code not in NOT_PRECISE, f"{code} for {context}"
            if code == grpc.StatusCode.OK:
                await settle(client, cluster)
            elif code != grpc.StatusCode.DEADLINE_EXCEEDED or not method.server_streaming:
                assert dump(cluster) == before, f"{code} changed the database: {context}"
            assert cluster.runner.process.returncode is None, f"runner died: {context}"
    assert calls > 50
    print(f"fuzz: {calls} calls (seed {SEED}): {dict(sorted(seen.items()))}")
    # Still serving: the graph it was given still runs.
    await client.register_workflow(definition)
    assert len((await client.run("fuzz", Token(1, 0, 3))).outputs) == 1
