"""The pure parts of a superstep, directly: who gets what (`plan`), what the
answers add up to (`collect`), when a checkpoint is due, and `RunState`."""

from __future__ import annotations

import uuid

import pytest

from stepline.v1 import events_pb2 as E
from stepline.v1 import executor_pb2 as X
from stepline.v1 import payload_pb2 as P
from stepline.v1 import runner_pb2
from stepline.v1 import workflow_pb2 as W
from stepline_runner.engine.graph import Graph
from stepline_runner.engine.state import RunState, random_id
from stepline_runner.engine.superstep import CollectError, checkpoint_due, collect, plan
from stepline_runner.store import StateRef
from tests.unit.graph_of_three import definition

Mode = W.CheckpointPolicy
EVERY_3 = W.CheckpointPolicy(mode=Mode.MODE_EVERY_N_SUPERSTEPS, every_n=3)


def text(value: str) -> P.Payload:
    return P.Payload(
        type_name="string", content_type="application/json", data=f'"{value}"'.encode()
    )


def state() -> RunState:
    return RunState("r", Graph.compile(definition()), superstep=4, checkpoint_id="cp4")


def test_plan_delivers_messages_in_send_order_and_answers_to_who_asked() -> None:
    s = state()
    s.pending = [
        P.Message(source_id="a", target_id="c", payload=text("1")),
        P.Message(source_id="b", target_id="c", payload=text("2")),
    ]
    request = P.InputRequest(request_id="q", executor_id="a")
    s.pending_responses = [P.InputResponse(request=request, response=text("yes"))]

    delivery = plan(s)

    assert delivery.step == 5
    assert delivery.invoked == ["a", "c"]  # graph order, not arrival order
    assert [m.payload.data for m in delivery.inboxes["c"]] == [b'"1"', b'"2"']
    assert [r.request.request_id for r in delivery.responses["a"]] == ["q"]
    started = delivery.started()
    assert [(e.kind, e.executor_id, e.superstep) for e in started] == [
        (E.EVENT_KIND_SUPERSTEP_STARTED, "", 5),
        (E.EVENT_KIND_EXECUTOR_INVOKED, "a", 5),
        (E.EVENT_KIND_EXECUTOR_INVOKED, "c", 5),
    ]


def test_collect_takes_the_answers_together_in_order_without_changing_them() -> None:
    shared = {"keep": text("k"), "drop": text("d")}
    open_requests = {"old": P.InputRequest(request_id="old", executor_id="b")}
    a = X.ExecuteResponse(
        sent=[P.Message(target_id="b", payload=text("m"))],
        outputs=[text("out")],
        events=[X.CustomEvent(name="progress", data=text("50%"))],
        requests=[P.InputRequest(response_type="string"), P.InputRequest(request_id="mine")],
        shared_state_writes=[
            P.SharedStateWrite(key="drop", delete=True),
            P.SharedStateWrite(key="new", value=text("n")),
        ],
    )
    b = X.ExecuteResponse(shared_state_writes=[P.SharedStateWrite(key="new", value=text("b"))])

    collected = collect("r", 5, [("a", a), ("b", b)], shared, open_requests)

    assert [(e.kind, e.executor_id) for e in collected.events] == [
        (E.EVENT_KIND_EXECUTOR_COMPLETED, "a"),
        (E.EVENT_KIND_OUTPUT, "a"),
        (E.EVENT_KIND_CUSTOM, "a"),
        (E.EVENT_KIND_REQUEST_INFO, "a"),
        (E.EVENT_KIND_REQUEST_INFO, "a"),
        (E.EVENT_KIND_EXECUTOR_COMPLETED, "b"),
    ]
    assert all(e.superstep == 5 for e in collected.events)
    assert [(m.source_id, m.target_id) for m in collected.sent] == [("a", "b")]
    assert list(collected.requests) == ["old", "r:5:a:0", "mine"]
    made_up = collected.requests["r:5:a:0"]
    assert (made_up.executor_id, made_up.superstep, made_up.response_type) == ("a", 5, "string")
    # Later writes win; deletes remove.
    assert {k: v.data for k, v in collected.shared_state.items()} == {
        "keep": b'"k"',
        "new": b'"b"',
    }
    # The inputs stand as they were.
    assert set(shared) == {"keep", "drop"} and list(open_requests) == ["old"]
    assert a.sent[0].source_id == "" and a.requests[0].request_id == ""


@pytest.mark.parametrize("asked_again", ["old", "twice"])
def test_collect_refuses_a_request_id_that_is_still_open(asked_again: str) -> None:
    open_requests = {"old": P.InputRequest(request_id="old", executor_id="b")}
    asked = [P.InputRequest(request_id="twice"), P.InputRequest(request_id=asked_again)]
    answer = X.ExecuteResponse(requests=asked[1:] if asked_again == "old" else asked)
    with pytest.raises(CollectError) as caught:
        collect("r", 5, [("a", answer)], {}, open_requests)
    error = caught.value.error
    assert (error.type, error.executor_id) == ("DuplicateRequestId", "a")
    assert f"request id {asked_again!r}, which is still open" in error.message


@pytest.mark.parametrize(
    ("policy", "step", "status", "due"),
    [
        (W.CheckpointPolicy(), 3, E.RUN_STATUS_RUNNING, True),
        (W.CheckpointPolicy(mode=Mode.MODE_EVERY_SUPERSTEP), 3, E.RUN_STATUS_RUNNING, True),
        (
            EVERY_3,
            3,
            E.RUN_STATUS_RUNNING,
            True,
        ),
        (
            EVERY_3,
            4,
            E.RUN_STATUS_RUNNING,
            False,
        ),
        (
            EVERY_3,
            4,
            E.RUN_STATUS_RUNNING_WITH_PENDING_REQUESTS,
            False,
        ),
        # A run that stops running is always checkpointed, whatever the policy.
        (
            EVERY_3,
            4,
            E.RUN_STATUS_COMPLETED,
            True,
        ),
        (
            EVERY_3,
            4,
            E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS,
            True,
        ),
    ],
)
def test_checkpoint_due(
    policy: W.CheckpointPolicy, step: int, status: E.RunStatus, due: bool
) -> None:
    assert checkpoint_due(policy, step, status) is due


def test_run_state_advances_and_settles() -> None:
    s = state()
    s.pending_responses = [P.InputResponse(request=P.InputRequest(request_id="q"))]
    assert s.has_work and s.settled_status == E.RUN_STATUS_RUNNING

    request = P.InputRequest(request_id="q2", executor_id="b")
    s.advance(5, [], {}, {"k": text("v")}, {"q2": request})

    assert (s.superstep, s.pending_responses, s.has_work) == (5, [], False)
    assert s.settled_status == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS
    s.advance(6, [P.Message(target_id="a", payload=text("x"))], {}, {}, {"q2": request})
    assert s.settled_status == E.RUN_STATUS_RUNNING_WITH_PENDING_REQUESTS
    s.advance(7, [], {}, {}, {})
    assert s.settled_status == E.RUN_STATUS_COMPLETED


def test_run_state_survives_its_checkpoint() -> None:
    s = state()
    s.pending = [P.Message(source_id="a", target_id="b", payload=text("m"))]
    s.fan_in = {2: [P.Message(source_id="a", payload=text("f"))]}
    s.shared_state = {"k": text("v")}
    s.pending_requests = {"q": P.InputRequest(request_id="q", executor_id="c")}
    s.states = {"a": StateRef("h", "string", "application/json", b'"st"')}

    new = s.checkpoint("cp4", changed=frozenset({"a"}))
    assert (new.superstep, new.parent_checkpoint_id, new.changed) == (4, "cp4", frozenset({"a"}))
    assert new.graph_signature == s.graph.signature and new.states == s.states

    # As the store gives it back: content with the executor states in it.
    stored = runner_pb2.Checkpoint(
        checkpoint_id=new.checkpoint_id, superstep=4, content=new.content
    )
    stored.content.executor_states["a"].CopyFrom(text("st"))
    back = RunState.from_checkpoint("r", s.graph, stored)

    assert (back.superstep, back.checkpoint_id) == (4, new.checkpoint_id)
    assert (back.pending, back.fan_in) == (s.pending, s.fan_in)
    assert (back.shared_state, back.pending_requests) == (s.shared_state, s.pending_requests)
    ref = back.states["a"]
    assert (ref.type_name, ref.data) == ("string", None)  # the run keeps hashes, not bytes


@pytest.mark.parametrize("bad", ["a b", "nul\x00", "\u202eevil", "x" * 257])
def test_collect_refuses_a_request_id_an_executor_made_up_badly(bad: str) -> None:
    answer = X.ExecuteResponse(requests=[P.InputRequest(request_id=bad)])
    with pytest.raises(CollectError) as caught:
        collect("r", 5, [("a", answer)], {}, {})
    error = caught.value.error
    assert (error.type, error.executor_id) == ("InvalidRequestId", "a")
    assert len(error.message) < 200  # a prefix of the id, not the id


def test_checkpoint_content_is_every_field_the_state_holds_and_only_those() -> None:
    s = state()
    assert s.checkpoint("cp4").content == runner_pb2.CheckpointContent()
    s.pending = [P.Message(source_id="a", target_id="b", payload=text("m"))]
    s.fan_in = {3: [P.Message(source_id="b", payload=text("g"))], 2: [P.Message(source_id="a")]}
    s.shared_state = {"k": text("v")}
    s.pending_requests = {"q": P.InputRequest(request_id="q", executor_id="c")}
    s.pending_responses = [P.InputResponse(request=P.InputRequest(request_id="q0"))]
    s.timers = [P.Message(source_id="a", target_id="b", payload=text("t"))]

    content = s.checkpoint("cp4").content
    assert content == runner_pb2.CheckpointContent(
        pending_messages=s.pending,
        fan_in_buffers=[
            runner_pb2.FanInBuffer(edge_index=2, messages=s.fan_in[2]),
            runner_pb2.FanInBuffer(edge_index=3, messages=s.fan_in[3]),
        ],
        shared_state=s.shared_state,
        pending_requests=list(s.pending_requests.values()),
        pending_responses=s.pending_responses,
        timers=s.timers,
    )


def test_random_ids_have_the_form_of_uuid4_hex() -> None:
    made = {random_id() for _ in range(2000)}
    assert len(made) == 2000
    for id_ in made:
        parsed = uuid.UUID(hex=id_)
        assert (parsed.hex, parsed.version, parsed.variant) == (id_, 4, uuid.RFC_4122)
