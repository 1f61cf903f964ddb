"""Routing without executors or a runner: a graph of four executors `a`-`d`,
its edges, messages sent, and `routed`, which asks the conditions' verdicts
first, as the driver does, then routes purely."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from stepline.v1 import payload_pb2 as P
from stepline.v1 import workflow_pb2 as W
from stepline_runner.engine.conditions import ConditionEvaluator
from stepline_runner.engine.graph import Graph
from stepline_runner.engine.routing import RoutingResult, queries, route

NODES = ("a", "b", "c", "d")


def graph(*edges: W.Edge, undeliverable: int = 0) -> Graph:
    return Graph.compile(
        W.WorkflowDefinition(
            workflow_id="w",
            executors=[W.ExecutorNode(id=x, endpoint="svc:1") for x in NODES],
            edges=edges,
            start_executor_id="a",
            undeliverable=undeliverable,  # type: ignore[arg-type]
        )
    )


def direct(source: str, target: str, condition: str = "") -> W.Edge:
    return W.Edge(direct=W.DirectEdge(source_id=source, target_id=target, condition=condition))


def sent(source: str, value: Any, target: str = "", type_name: str = "") -> P.Message:
    payload = P.Payload(
        type_name=type_name or type(value).__name__,
        content_type="application/json",
        data=json.dumps(value).encode(),
    )
    return P.Message(source_id=source, target_id=target, payload=payload)


async def routed(
    evaluator: ConditionEvaluator,
    g: Graph,
    *messages: P.Message,
    fan_in: Mapping[int, list[P.Message]] | None = None,
    accepts: Mapping[str, frozenset[str]] | None = None,
) -> RoutingResult:
    """Verdicts first, as the driver does, then the pure routing."""
    sent = list(messages)
    verdicts = await evaluator.verdicts(queries(g, sent), sent)
    return route(g, sent, fan_in or {}, accepts or {}, verdicts)
