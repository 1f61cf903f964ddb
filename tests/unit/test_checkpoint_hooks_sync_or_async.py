"""Checkpoint hooks may be plain methods or `async def`; the SDK honours both."""

from __future__ import annotations

from typing import Any

import pytest

from stepline import payloads
from stepline.executor import Executor, WorkflowContext, handler
from stepline.host import ExecutorHost
from stepline.v1 import executor_pb2


class SyncTally(Executor):
    def __init__(self) -> None:
        self.total = 0

    @handler
    async def add(self, n: int, ctx: WorkflowContext) -> None:
        self.total += n

    def on_checkpoint_save(self) -> dict[str, Any]:
        return {"total": self.total}

    def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self.total = state["total"]


class AsyncTally(Executor):
    def __init__(self) -> None:
        self.total = 0

    @handler
    async def add(self, n: int, ctx: WorkflowContext) -> None:
        self.total += n

    async def on_checkpoint_save(self) -> dict[str, Any]:
        return {"total": self.total}

    async def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self.total = state["total"]


class NotADict(Executor):
    @handler
    async def add(self, n: int, ctx: WorkflowContext) -> None: ...

    async def on_checkpoint_save(self) -> dict[str, Any]:
        return [1, 2]  # type: ignore[return-value]


def key(run_id: str = "r") -> dict[str, Any]:
    return {"run_id": run_id, "executor_id": "t", "executor_type": "tally"}


async def feed(host: ExecutorHost, n: int, run_id: str = "r") -> None:
    request = executor_pb2.ExecuteRequest(run_id=run_id, executor_id="t", executor_type="tally")
    request.messages.add(payload=payloads.encode(n))
    assert not (await host.execute(request)).HasField("error")


async def saved(host: ExecutorHost, run_id: str = "r") -> Any:
    response = await host.save(executor_pb2.SaveCheckpointRequest(**key(run_id)))
    return payloads.json_value(response.state)


@pytest.mark.parametrize("tally", [SyncTally, AsyncTally])
async def test_save_returns_the_state_either_hook_gives(tally: type[Executor]) -> None:
    host = ExecutorHost({"tally": tally})
    await feed(host, 5)
    await feed(host, 7)

    assert await saved(host) == {"total": 12}


@pytest.mark.parametrize("tally", [SyncTally, AsyncTally])
async def test_restore_puts_the_state_back_through_either_hook(tally: type[Executor]) -> None:
    host = ExecutorHost({"tally": tally})
    state = payloads.encode({"total": 40}, "tally.state")
    await host.restore(executor_pb2.RestoreCheckpointRequest(**key("fork"), state=state))
    await feed(host, 2, "fork")

    assert await saved(host, "fork") == {"total": 42}


@pytest.mark.parametrize("tally", [SyncTally, AsyncTally])
async def test_an_async_restore_of_a_wrong_shape_is_a_payload_error(tally: type[Executor]) -> None:
    host = ExecutorHost({"tally": tally})
    state = payloads.encode({"other": 1}, "tally.state")

    with pytest.raises(payloads.PayloadError, match="cannot restore this state: KeyError"):
        await host.restore(executor_pb2.RestoreCheckpointRequest(**key(), state=state))


async def test_a_state_that_is_not_a_dict_is_refused_naming_the_hook() -> None:
    host = ExecutorHost({"tally": NotADict})
    await feed(host, 1)

    with pytest.raises(
        TypeError, match="on_checkpoint_save of executor type 'tally' returned list"
    ):
        await saved(host)
