"""Undeliverable messages, routed directly: each cause reported with its
source, payload type and why; `settle` fails on the first unless the
workflow drops them with a warning; CEL names no variable that does not exist."""

from __future__ import annotations

import pytest

from stepline.v1 import workflow_pb2 as W
from stepline_runner.engine.conditions import ConditionEvaluator, Expression
from stepline_runner.engine.errors import InvalidWorkflow
from stepline_runner.engine.routing import (
    BATCH_TYPE,
    RoutingResult,
    UndeliverableError,
    settle,
)
from tests.unit.routed import direct, graph, routed, sent

DROP = W.WorkflowDefinition.DROP_WITH_WARNING


def causes(result: RoutingResult) -> list[tuple[str, str, str]]:
    return [(u.source_id, u.type_name, u.cause) for u in result.undeliverable]


async def test_a_source_without_edges_has_nowhere_to_send(evaluator: ConditionEvaluator) -> None:
    result = await routed(evaluator, graph(direct("a", "b")), sent("b", 1))
    assert causes(result) == [("b", "int", "no edge")]
    assert result.undeliverable[0].text == (
        "message of type 'int' from 'b' is undeliverable (no edge): 'b' has no outgoing edge"
    )


async def test_no_condition_holding_is_no_edge(evaluator: ConditionEvaluator) -> None:
    result = await routed(evaluator, graph(direct("a", "b", "message > 5")), sent("a", 1))
    assert causes(result) == [("a", "int", "no edge")]
    assert "no edge's condition held" in result.undeliverable[0].detail


async def test_a_type_no_target_takes_is_not_accepted(evaluator: ConditionEvaluator) -> None:
    g = graph(direct("a", "b"), direct("a", "c"))
    accepts = {"b": frozenset({"str"}), "c": frozenset({"bool"})}
    result = await routed(evaluator, g, sent("a", 1), accepts=accepts)
    assert result.deliveries == [] and result.warnings == []
    assert causes(result) == [("a", "int", "not accepted by any target")]
    assert result.undeliverable[0].detail == "'b' takes str; 'c' takes bool"


async def test_a_fan_in_batch_its_target_does_not_take(evaluator: ConditionEvaluator) -> None:
    g = graph(W.Edge(fan_in=W.FanInEdge(source_ids=["a", "b"], target_id="c")))
    result = await routed(
        evaluator, g, sent("a", 1), sent("b", 2), accepts={"c": frozenset({"int"})}
    )
    assert causes(result) == [("", BATCH_TYPE, "not accepted by any target")]


async def test_a_non_boolean_condition_is_reported_even_when_another_edge_delivers(
    evaluator: ConditionEvaluator,
) -> None:
    g = graph(direct("a", "b", "message + 1"), direct("a", "c"))
    result = await routed(evaluator, g, sent("a", 1))
    assert [m.target_id for m in result.deliveries] == ["c"]
    assert causes(result) == [("a", "int", "condition not boolean")]
    assert "returned 2, not a boolean" in result.undeliverable[0].detail


async def test_settle_fails_on_the_first_unless_the_workflow_drops(
    evaluator: ConditionEvaluator,
) -> None:
    edges = (direct("a", "b", "message > 5"),)
    strict, lenient = graph(*edges), graph(*edges, undeliverable=DROP)
    result = await routed(evaluator, strict, sent("a", 1), sent("a", 2))
    with pytest.raises(UndeliverableError) as raised:
        settle(strict, result)
    error = raised.value.undeliverable.error()
    assert (error.type, error.executor_id) == ("UndeliverableMessage", "a")
    assert "'int' from 'a'" in error.message and "(no edge)" in error.message
    warnings = settle(lenient, await routed(evaluator, lenient, sent("a", 1)))
    assert [(x, "undeliverable (no edge)" in t) for x, t in warnings] == [("a", True)]


@pytest.mark.parametrize(
    ("source", "unknown"),
    [
        ("message.kind == correct", "'correct'"),
        ("[1, 2].exists(x, x > limit)", "'limit'"),
        ("size(msg) > 0", "'msg'"),
    ],
)
async def test_an_undefined_identifier_is_refused_naming_the_edge(
    evaluator: ConditionEvaluator, source: str, unknown: str
) -> None:
    with pytest.raises(InvalidWorkflow) as raised:
        await evaluator.check([Expression(source, "edge 'a' -> 'b': edges[0] (direct)")])
    message = str(raised.value)
    assert message.startswith("edge 'a' -> 'b': edges[0] (direct): invalid CEL expression")
    assert f"undefined identifier {unknown}" in message


async def test_variables_and_the_names_macros_bind_are_defined(
    evaluator: ConditionEvaluator,
) -> None:
    await evaluator.check(
        [
            Expression("message.items.all(i, i.ok) && type_name == 'T'", "e0"),
            Expression("message.xs.map(x, x * 2).exists(y, y > 3)", "e1"),
            Expression("message.ids.filter(id, id != 'a')", "e2", "selection"),
        ]
    )
