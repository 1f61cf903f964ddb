"""Compiling a workflow definition: every edge kind, and the faults refused.

Direct: no executor service, no runner. Registration's end-to-end refusals
live in test_validation.py.
"""

from __future__ import annotations

import re

import pytest

from stepline.v1 import workflow_pb2 as W
from stepline_runner.engine.edges import CompiledEdge, EdgeKind
from stepline_runner.engine.errors import InvalidArgument
from stepline_runner.engine.graph import (
    DEFAULT_MAX_SUPERSTEPS,
    Graph,
    edges_by_source,
    signature_of,
)
from stepline_runner.engine.inputs import accepts_any, accepts_type
from tests.unit.graph_of_three import definition


def test_every_edge_kind_compiles_to_its_sources_targets_and_expressions() -> None:
    graph = Graph.compile(
        definition(
            W.Edge(direct=W.DirectEdge(source_id="a", target_id="b", condition="message > 1")),
            W.Edge(fan_out=W.FanOutEdge(source_id="a", target_ids=["b", "c"], selection="['b']")),
            W.Edge(fan_in=W.FanInEdge(source_ids=["a", "b"], target_id="c")),
            W.Edge(
                switch_case=W.SwitchCaseEdge(
                    source_id="b",
                    cases=[W.SwitchCase(condition="message == 1", target_id="c")],
                    default_target_id="a",
                )
            ),
        )
    )
    direct, fan_out, fan_in, switch = graph.edges
    assert [e.kind for e in graph.edges] == list(EdgeKind)
    assert [e.index for e in graph.edges] == [0, 1, 2, 3]
    assert (direct.sources, direct.targets) == (("a",), ("b",))
    assert direct.condition is not None and direct.condition.source == "message > 1"
    assert (fan_out.sources, fan_out.targets) == (("a",), ("b", "c"))
    assert fan_out.selection is not None and fan_out.selection.where == "edges[1] (fan_out)"
    assert (fan_in.sources, fan_in.targets, fan_in.expressions) == (("a", "b"), ("c",), [])
    assert switch.targets == ("c", "a") and switch.default_target == "a"
    assert [(c.source, t) for c, t in switch.cases] == [("message == 1", "c")]
    assert [e.where for e in switch.expressions] == ["edges[3] (switch_case) cases[0]"]
    assert graph.start_id == "a" and graph.max_supersteps == DEFAULT_MAX_SUPERSTEPS
    assert [e.index for e in graph.edges_from("b")] == [2, 3]
    assert graph.connected("a", "c") and not graph.connected("c", "a")
    assert [x.where for x in graph.expressions_from("a")] == [
        "edges[0] (direct)",
        "edges[1] (fan_out)",
    ]
    assert graph.expressions_from("b") == tuple(switch.expressions)
    assert graph.edges_from("c") == () and graph.expressions_from("c") == ()


def test_edges_by_source_keeps_the_definitions_order_and_each_edge_once() -> None:
    a_b = CompiledEdge(0, EdgeKind.DIRECT, ("a",), ("b",))
    fan_in = CompiledEdge(1, EdgeKind.FAN_IN, ("b", "a", "b"), ("c",))
    b_a = CompiledEdge(2, EdgeKind.DIRECT, ("b",), ("a",))
    found = edges_by_source([a_b, fan_in, b_a])
    assert found == {"a": (a_b, fan_in), "b": (fan_in, b_a)}
    assert edges_by_source([]) == {}


REFUSED = {
    "no kind": (W.Edge(), "edges[0]: set one of direct, fan_out, fan_in, switch_case"),
    "direct without a target": (
        W.Edge(direct=W.DirectEdge(source_id="a")),
        "edges[0] (direct): target is required",
    ),
    "fan-out to nobody": (
        W.Edge(fan_out=W.FanOutEdge(source_id="a")),
        "edges[0] (fan_out): at least one target is required",
    ),
    "fan-in of one source": (
        W.Edge(fan_in=W.FanInEdge(source_ids=["a"], target_id="c")),
        "a fan-in needs at least two sources",
    ),
    "fan-in of one source twice": (
        W.Edge(fan_in=W.FanInEdge(source_ids=["a", "a"], target_id="c")),
        "edges[0] (fan_in): sources must be distinct",
    ),
    "switch-case with an unknown target": (
        W.Edge(
            switch_case=W.SwitchCaseEdge(
                source_id="a",
                cases=[W.SwitchCase(condition="true", target_id="zz")],
                default_target_id="b",
            )
        ),
        "edges[0] (switch_case): target 'zz' is not a defined executor",
    ),
    "switch case without a condition": (
        W.Edge(
            switch_case=W.SwitchCaseEdge(
                source_id="a", cases=[W.SwitchCase(target_id="b")], default_target_id="b"
            )
        ),
        "cases[0] needs a condition",
    ),
    # Whether it is CEL at all, the evaluator says (tests/unit/test_conditions.py).
    "selection over the size cap": (
        W.Edge(fan_out=W.FanOutEdge(source_id="a", target_ids=["b"], selection="1+" * 3000)),
        "edges[0] (fan_out): the CEL expression is 6000 bytes, over the cap of 4096",
    ),
    "condition nested too deep": (
        W.Edge(direct=W.DirectEdge(source_id="a", target_id="b", condition="(" * 40 + ")" * 40)),
        "edges[0] (direct): the CEL expression nests 40 levels of brackets, over the cap of 32",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_compilation_refuses(case: str) -> None:
    edge, message = REFUSED[case]
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        Graph.compile(definition(edge))


def test_the_signature_ignores_endpoints_but_not_edges() -> None:
    edge = W.Edge(direct=W.DirectEdge(source_id="a", target_id="b"))
    one = definition(edge)
    moved = definition(edge)
    moved.executors[0].endpoint = "elsewhere:2"
    assert signature_of(one) == signature_of(moved)
    assert signature_of(one) != signature_of(definition())


def test_what_an_executor_accepts() -> None:
    assert accepts_type(frozenset(), "anything")
    assert accepts_type(frozenset({"*"}), "anything")
    assert accepts_type(frozenset({"string"}), "string")
    assert not accepts_type(frozenset({"string"}), "integer")
    assert accepts_any(frozenset({"string"}), frozenset())  # sends undeclared types
    assert accepts_any(frozenset({"string"}), frozenset({"integer", "string"}))
    assert not accepts_any(frozenset({"string"}), frozenset({"integer"}))
