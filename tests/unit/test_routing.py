"""Routing, directly: every edge kind, CEL conditions and selections, explicit
targets, input types and fan-in buffers, without executors or a runner."""

from __future__ import annotations

import pytest

from stepline.v1 import payload_pb2 as P
from stepline.v1 import workflow_pb2 as W
from stepline_runner.engine.conditions import ConditionEvaluator
from stepline_runner.engine.routing import BATCH_TYPE, ConditionError, RoutingResult
from tests.unit.routed import direct, graph, routed, sent


def delivered(result: RoutingResult) -> list[tuple[str, str, bytes]]:
    return [(m.source_id, m.target_id, m.payload.data) for m in result.deliveries]


async def test_a_direct_edge_delivers_to_its_target_from_its_source(
    evaluator: ConditionEvaluator,
) -> None:
    result = await routed(evaluator, graph(direct("a", "b")), sent("a", 1))
    assert delivered(result) == [("a", "b", b"1")]
    assert result.warnings == [] and result.fan_in == {}


async def test_a_direct_edge_condition_sees_the_json_message_and_its_type(
    evaluator: ConditionEvaluator,
) -> None:
    g = graph(direct("a", "b", "message > 1"), direct("a", "c", "type_name == 'special'"))
    result = await routed(
        evaluator, g, sent("a", 2), sent("a", 1), sent("a", 0, type_name="special")
    )
    assert delivered(result) == [("a", "b", b"2"), ("a", "c", b"0")]
    assert [(u.source_id, u.type_name, u.cause) for u in result.undeliverable] == [
        ("a", "int", "no edge")
    ]


async def test_a_condition_that_fails_on_a_message_fails_routing(
    evaluator: ConditionEvaluator,
) -> None:
    g = graph(direct("a", "b", "message.missing > 1"))
    with pytest.raises(ConditionError, match=r"edges\[0\] \(direct\): evaluating on a 'dict'"):
        await routed(evaluator, g, sent("a", {"other": 1}))


async def test_a_fan_out_goes_to_every_target_or_to_those_its_selection_names(
    evaluator: ConditionEvaluator,
) -> None:
    every = W.Edge(fan_out=W.FanOutEdge(source_id="a", target_ids=["b", "c"]))
    chosen = W.Edge(
        fan_out=W.FanOutEdge(source_id="b", target_ids=["c", "d"], selection="message.to")
    )
    result = await routed(evaluator, graph(every, chosen), sent("a", 1), sent("b", {"to": ["d"]}))
    assert [(s, t) for s, t, _ in delivered(result)] == [("a", "b"), ("a", "c"), ("b", "d")]


async def test_a_selection_that_is_not_a_list_fails_routing(evaluator: ConditionEvaluator) -> None:
    g = graph(W.Edge(fan_out=W.FanOutEdge(source_id="a", target_ids=["b"], selection="'b'")))
    with pytest.raises(ConditionError, match="not a list"):
        await routed(evaluator, g, sent("a", 1))


async def test_a_fan_in_buffers_until_every_source_sent_then_delivers_one_batch(
    evaluator: ConditionEvaluator,
) -> None:
    g = graph(W.Edge(fan_in=W.FanInEdge(source_ids=["a", "b"], target_id="c")))
    first = await routed(evaluator, g, sent("a", 1))
    assert first.deliveries == [] and list(first.fan_in) == [0]
    before = {i: list(m) for i, m in first.fan_in.items()}

    second = await routed(evaluator, g, sent("b", 2), fan_in=first.fan_in)

    assert first.fan_in == before  # the input is not changed
    assert second.fan_in == {}
    (batch,) = second.deliveries
    assert (batch.source_id, batch.target_id, batch.payload.type_name) == ("", "c", BATCH_TYPE)
    messages = P.MessageBatch.FromString(batch.payload.data).messages
    assert [(m.source_id, m.payload.data) for m in messages] == [("a", b"1"), ("b", b"2")]


async def test_a_fan_in_waits_for_each_source_not_for_a_count(
    evaluator: ConditionEvaluator,
) -> None:
    g = graph(W.Edge(fan_in=W.FanInEdge(source_ids=["a", "b"], target_id="c")))
    result = await routed(evaluator, g, sent("a", 1), sent("a", 2))
    assert result.deliveries == [] and len(result.fan_in[0]) == 2


async def test_a_switch_case_takes_the_first_matching_case_else_its_default(
    evaluator: ConditionEvaluator,
) -> None:
    cases = [
        W.SwitchCase(condition="message > 10", target_id="b"),
        W.SwitchCase(condition="message > 0", target_id="c"),
    ]
    g = graph(
        W.Edge(switch_case=W.SwitchCaseEdge(source_id="a", cases=cases, default_target_id="d"))
    )
    result = await routed(evaluator, g, sent("a", 20), sent("a", 5), sent("a", -1))
    assert [t for _, t, _ in delivered(result)] == ["b", "c", "d"]


async def test_an_explicit_target_needs_an_edge_and_picks_among_its_targets(
    evaluator: ConditionEvaluator,
) -> None:
    g = graph(W.Edge(fan_out=W.FanOutEdge(source_id="a", target_ids=["b", "c"])))
    result = await routed(evaluator, g, sent("a", 1, target="c"), sent("a", 2, target="d"))
    assert delivered(result) == [("a", "c", b"1")]
    (undeliverable,) = result.undeliverable
    assert undeliverable.detail == "no edge connects 'a' to its explicit target 'd'"


async def test_an_explicit_target_of_a_fan_in_is_buffered(evaluator: ConditionEvaluator) -> None:
    g = graph(W.Edge(fan_in=W.FanInEdge(source_ids=["a", "b"], target_id="c")))
    result = await routed(evaluator, g, sent("a", 1, target="c"))
    assert result.deliveries == [] and len(result.fan_in[0]) == 1


async def test_a_message_of_a_type_the_target_does_not_take_is_not_delivered(
    evaluator: ConditionEvaluator,
) -> None:
    g = graph(direct("a", "b"), direct("a", "c"))
    accepts = {"b": frozenset({"str"}), "c": frozenset({"*"})}
    result = await routed(evaluator, g, sent("a", 1), accepts=accepts)
    assert delivered(result) == [("a", "c", b"1")]
    assert result.warnings == [("b", "message of type 'int' from 'a' not delivered: 'b' takes str")]
