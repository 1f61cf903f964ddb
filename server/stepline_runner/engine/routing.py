"""Routing: which messages each executor receives in the next superstep."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from stepline.v1 import payload_pb2

from .conditions import ConditionError, Expression, Verdicts
from .edges import CompiledEdge, EdgeKind
from .graph import Graph
from .inputs import accepts_type, type_list

BATCH_TYPE = "stepline.v1.MessageBatch"
PROTOBUF = "application/x-protobuf"


@dataclass
class RoutingResult:
    deliveries: list[payload_pb2.Message] = field(default_factory=list)
    fan_in: dict[int, list[payload_pb2.Message]] = field(default_factory=dict)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (executor id, text)


__all__ = ["BATCH_TYPE", "ConditionError", "RoutingResult", "queries", "route"]


def queries(graph: Graph, sent: list[payload_pb2.Message]) -> list[tuple[int, Expression]]:
    """The (message index, expression) pairs `route` needs verdicts for."""
    return [
        (i, expression)
        for i, message in enumerate(sent)
        if not message.target_id or graph.connected(message.source_id, message.target_id)
        for edge in graph.edges_from(message.source_id)
        for expression in edge.expressions
    ]


def route(
    graph: Graph,
    sent: list[payload_pb2.Message],
    fan_in: Mapping[int, list[payload_pb2.Message]],
    accepts: Mapping[str, frozenset[str]],
    verdicts: Verdicts,
) -> RoutingResult:
    """Route messages sent in one superstep, in send order.

    `fan_in` (edge index -> buffered messages) is what fan-in edges held
    before; the result holds it after, and the inputs are not changed.
    `accepts` holds each executor's input types; an executor without an
    entry takes all. `verdicts` holds what the expressions said of each
    message (`queries`). Raises `ConditionError` for an expression that
    failed on a message.
    """
    result = RoutingResult(fan_in={i: list(m) for i, m in fan_in.items()})

    def deliver(target: str, message: payload_pb2.Message) -> None:
        types = accepts.get(target, frozenset())
        type_name = message.payload.type_name
        if not accepts_type(types, type_name):
            result.warnings.append(
                (
                    target,
                    f"message of type {type_name!r} from {message.source_id!r} not delivered: "
                    f"{target!r} takes {type_list(types)}",
                )
            )
            return
        result.deliveries.append(
            payload_pb2.Message(
                source_id=message.source_id, target_id=target, payload=message.payload
            )
        )

    for index, message in enumerate(sent):
        source = message.source_id
        explicit = message.target_id
        if explicit and not graph.connected(source, explicit):
            result.warnings.append(
                (source, f"message to {explicit!r} dropped: no edge connects {source!r} to it")
            )
            continue
        routed = False
        for edge in graph.edges_from(source):
            targets = _targets(edge, partial(verdicts.of, index))
            if explicit:
                targets = [t for t in targets if t == explicit] or (
                    [explicit] if edge.kind is EdgeKind.FAN_IN and explicit in edge.targets else []
                )
            if not targets:
                continue
            routed = True
            if edge.kind is EdgeKind.FAN_IN:
                _buffer(edge, message, result.fan_in, deliver)
            else:
                for target in targets:
                    deliver(target, message)
        if not routed:
            result.warnings.append(
                (source, f"message of type {message.payload.type_name!r} matched no edge")
            )
    return result


def _targets(edge: CompiledEdge, verdict: Callable[[Expression], Any]) -> list[str]:
    if edge.kind is EdgeKind.FAN_IN:
        return list(edge.targets)
    if edge.kind is EdgeKind.DIRECT:
        if edge.condition and verdict(edge.condition) is not True:
            return []
        return list(edge.targets)
    if edge.kind is EdgeKind.FAN_OUT:
        if edge.selection is None:
            return list(edge.targets)
        chosen = verdict(edge.selection)
        return [t for t in edge.targets if t in chosen]
    for condition, target in edge.cases:
        if verdict(condition) is True:
            return [target]
    return [edge.default_target]


def _buffer(
    edge: CompiledEdge,
    message: payload_pb2.Message,
    fan_in: dict[int, list[payload_pb2.Message]],
    deliver: Any,
) -> None:
    buffered = fan_in.setdefault(edge.index, [])
    buffered.append(message)
    if {m.source_id for m in buffered} >= set(edge.sources):
        batch = payload_pb2.MessageBatch(messages=buffered)
        del fan_in[edge.index]
        deliver(
            edge.targets[0],
            payload_pb2.Message(
                source_id="",
                payload=payload_pb2.Payload(
                    type_name=BATCH_TYPE, content_type=PROTOBUF, data=batch.SerializeToString()
                ),
            ),
        )
