"""The SDK's executor host refuses bad requests with errors its service maps
to precise gRPC statuses."""

from __future__ import annotations

import pytest

from stepline import payloads
from stepline.executor import Executor, WorkflowContext, handler
from stepline.host import ExecutorHost, NoSuchExecutorObject, UnknownExecutorType
from stepline.v1 import executor_pb2, payload_pb2


class Keeper(Executor):
    def __init__(self) -> None:
        self.kept = 0

    @handler
    async def keep(self, n: int, ctx: WorkflowContext) -> None:
        self.kept = n

    def on_checkpoint_save(self) -> dict[str, int]:
        return {"kept": self.kept}

    def on_checkpoint_restore(self, state: dict[str, int]) -> None:
        self.kept = state["kept"]


def restore(data: bytes) -> executor_pb2.RestoreCheckpointRequest:
    return executor_pb2.RestoreCheckpointRequest(
        run_id="r",
        executor_id="k",
        executor_type="keeper",
        state=payload_pb2.Payload(type_name="keeper.state", data=data),
    )


async def test_a_state_that_is_not_json_is_a_payload_error() -> None:
    with pytest.raises(payloads.PayloadError, match="invalid JSON"):
        await ExecutorHost({"keeper": Keeper}).restore(restore(b"{not json"))


async def test_a_state_of_another_shape_is_a_payload_error() -> None:
    with pytest.raises(payloads.PayloadError, match="cannot restore this state: KeyError"):
        await ExecutorHost({"keeper": Keeper}).restore(restore(b'{"other": 1}'))


async def test_an_unknown_type_is_refused_even_for_a_known_pair() -> None:
    host = ExecutorHost({"keeper": Keeper})
    request = executor_pb2.ExecuteRequest(
        run_id="r", executor_id="k", executor_type="keeper", superstep=1
    )
    request.messages.add(payload=payloads.encode(3))
    assert not (await host.execute(request)).HasField("error")

    request.executor_type = "nobody"
    with pytest.raises(UnknownExecutorType, match="hosts: keeper"):
        await host.execute(request)


async def test_saving_a_pair_it_never_held_names_the_likely_causes() -> None:
    with pytest.raises(NoSuchExecutorObject, match="the service restarted"):
        await ExecutorHost({"keeper": Keeper}).save(
            executor_pb2.SaveCheckpointRequest(run_id="r", executor_id="k", executor_type="keeper")
        )
