"""A Session reply carries what the unary Execute answers, field for field,
though it is made in the reply: sends of a handler that then failed are
gone, the state comes with it as SaveCheckpoint would give it (unchanged
for a known hash, left out when over the cap)."""

from __future__ import annotations

import pytest

from stepline import host as host_module
from stepline import payloads
from stepline.executor import Executor, WorkflowContext, handler
from stepline.host import ExecutorHost
from stepline.serve import session_reply
from stepline.v1 import executor_pb2


class Flaky(Executor):
    def __init__(self) -> None:
        self.seen = 0

    @handler
    async def take(self, n: int, ctx: WorkflowContext) -> None:
        self.seen += n
        await ctx.send_message(n + 1)
        await ctx.yield_output(n)
        if n < 0:
            raise ValueError(f"no negative numbers: {n}")

    def on_checkpoint_save(self) -> dict[str, int]:
        return {"seen": self.seen}


def execute(n: int, known: str = "") -> executor_pb2.ExecuteRequest:
    request = executor_pb2.ExecuteRequest(
        run_id="r", executor_id="f", executor_type="flaky", superstep=1, epoch=1
    )
    request.messages.add(payload=payloads.encode(n))
    request.return_state, request.known_state_hash = True, known
    return request


async def both(n: int, known: str = "") -> tuple[executor_pb2.ExecuteResponse, ...]:
    """The unary answer and the Session reply's, each from a host of its own."""
    unary, session = ExecutorHost({"flaky": Flaky}), ExecutorHost({"flaky": Flaky})
    answered = await unary.execute(execute(n, known))
    reply = await session_reply(
        session, executor_pb2.SessionRequest(call_id=3, execute=execute(n, known))
    )
    assert (reply.call_id, reply.code) == (3, 0)
    for response, host in ((answered, unary), (reply.execute, session)):
        assert response.incarnation_id == host.incarnation_id
        response.ClearField("incarnation_id")
        if response.HasField("checkpoint"):
            assert response.checkpoint.incarnation_id == host.incarnation_id
            response.checkpoint.ClearField("incarnation_id")
    return answered, reply.execute


async def test_a_reply_with_the_state_is_the_unary_answer() -> None:
    answered, replied = await both(2)
    assert answered == replied
    assert [payloads.decode(m.payload, int) for m in replied.sent] == [3]
    assert payloads.json_value(replied.checkpoint.state) == {"seen": 2}
    assert replied.checkpoint.state.type_name == "flaky.state"


async def test_a_state_the_runner_holds_comes_back_unchanged_on_both_paths() -> None:
    known = payloads.data_hash(b'{"seen":2}')
    answered, replied = await both(2, known)
    assert answered == replied
    assert replied.checkpoint.unchanged and not replied.checkpoint.HasField("state")


async def test_a_failed_handler_sends_nothing_on_either_path() -> None:
    answered, replied = await both(-1)
    assert answered == replied
    assert not replied.sent and not replied.outputs and not replied.HasField("checkpoint")
    assert replied.error.type == "ValueError" and replied.error.executor_id == "f"


async def test_a_state_over_the_cap_goes_alone_on_both_paths(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(host_module, "MAX_STATE_BYTES", 40)  # the reply is larger
    answered, replied = await both(2)
    assert answered == replied
    assert replied.sent and not replied.HasField("checkpoint")
