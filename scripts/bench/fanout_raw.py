"""The fan-out round without the runner: the same calls, made directly.

A round of `fanout.py`'s run is a spoke superstep (an Execute of a Ping on
each of the 16 spokes, at once) and the hub superstep after it (an Execute of
their 16 Pongs as one fan-in list), each followed by its executors' states. A
raw round makes those calls from this process over plain concurrent unary
gRPC, with no store, no routing and no engine: the states with Execute
(`return_state`) when the service advertises it, else a SaveCheckpoint after
each Execute, as the runner would. Its median is the floor a runner round is
compared with.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import grpc

from stepline import payloads
from stepline.limits import GRPC_MESSAGE_OPTIONS
from stepline.v1 import executor_pb2, executor_pb2_grpc, payload_pb2

BATCH_TYPE = "stepline.v1.MessageBatch"
PROTOBUF = "application/x-protobuf"


def _states_with_execute(described: Any) -> bool:
    # An older build's DescribeResponse has no `features` at all.
    if "features" not in described.DESCRIPTOR.fields_by_name:
        return False
    return bool(described.features.state_with_execute)


class _Caller:
    def __init__(self, stub: Any, run_id: str, with_state: bool) -> None:
        self.stub, self.run_id, self.with_state = stub, run_id, with_state

    async def call(
        self, executor_id: str, executor_type: str, payload: payload_pb2.Payload, step: int
    ) -> executor_pb2.ExecuteResponse:
        request = executor_pb2.ExecuteRequest(
            run_id=self.run_id,
            executor_id=executor_id,
            executor_type=executor_type,
            superstep=step,
            attempt=1,
        )
        request.messages.add(payload=payload)
        if self.with_state:
            request.return_state = True
        response: executor_pb2.ExecuteResponse = await self.stub.Execute(request)
        if not self.with_state:
            await self.stub.SaveCheckpoint(
                executor_pb2.SaveCheckpointRequest(
                    run_id=self.run_id, executor_id=executor_id, executor_type=executor_type
                )
            )
        return response


async def raw_rounds(endpoints: list[str], spokes_per_process: int, rounds: int) -> list[float]:
    """Seconds per raw round, `rounds` of them (the hub at the first endpoint,
    spoke i at endpoint i // spokes_per_process)."""
    channels = [grpc.aio.insecure_channel(e, options=GRPC_MESSAGE_OPTIONS) for e in endpoints]
    try:
        stubs = [executor_pb2_grpc.ExecutorServiceStub(c) for c in channels]
        with_state = _states_with_execute(await stubs[0].Describe(executor_pb2.DescribeRequest()))
        run_id = f"raw-{uuid.uuid4().hex}"
        callers = [_Caller(stub, run_id, with_state) for stub in stubs]
        spokes = len(endpoints) * spokes_per_process
        start = payloads.encode({"supersteps": 10**9}, type_name="FanoutStart")
        await callers[0].call("hub", "hub", start, 1)
        times = []
        for r in range(1, rounds + 1):
            ping = payloads.encode({"round": r, "last": False}, type_name="Ping")
            t0 = time.perf_counter()
            answers = await asyncio.gather(
                *(
                    callers[i // spokes_per_process].call(f"spoke-{i}", "spoke", ping, 2 * r)
                    for i in range(spokes)
                )
            )
            batch = payload_pb2.MessageBatch()
            for i, answer in enumerate(answers):
                for sent in answer.sent:
                    batch.messages.add(source_id=f"spoke-{i}", payload=sent.payload)
            gathered = payload_pb2.Payload(
                type_name=BATCH_TYPE, content_type=PROTOBUF, data=batch.SerializeToString()
            )
            await callers[0].call("hub", "hub", gathered, 2 * r + 1)
            times.append(time.perf_counter() - t0)
        await asyncio.gather(*(s.EndRun(executor_pb2.EndRunRequest(run_id=run_id)) for s in stubs))
        return times
    finally:
        for channel in channels:
            await channel.close(None)
