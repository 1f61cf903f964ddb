"""Routing: which messages each executor receives in the next superstep.

A message no edge delivers is `Undeliverable`, for one of three causes: no
edge (none from its source, none to its explicit target, or no edge's
condition held), no target takes its payload type, or a condition returned a
non-boolean. `route` reports them; `settle` fails the run with the first one
(`UndeliverableError`) unless the workflow drops them with a warning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stepline.v1 import payload_pb2, workflow_pb2

from .conditions import ConditionError, Expression, NotBoolean, Verdicts
from .edges import CompiledEdge, EdgeKind
from .graph import Graph
from .inputs import accepts_type, type_list

BATCH_TYPE = "stepline.v1.MessageBatch"
PROTOBUF = "application/x-protobuf"
NO_EDGE = "no edge"
NOT_ACCEPTED = "not accepted by any target"
NOT_BOOLEAN = "condition not boolean"
DROP = workflow_pb2.WorkflowDefinition.DROP_WITH_WARNING


@dataclass(frozen=True)
class Undeliverable:
    """A message that could not be delivered: from whom, of what type, why."""

    source_id: str
    type_name: str
    cause: str  # NO_EDGE, NOT_ACCEPTED or NOT_BOOLEAN
    detail: str

    @property
    def text(self) -> str:
        source = repr(self.source_id) if self.source_id else "a fan-in"
        return (
            f"message of type {self.type_name!r} from {source} is undeliverable "
            f"({self.cause}): {self.detail}"
        )

    def error(self) -> payload_pb2.ErrorInfo:
        """The run's error when the workflow does not drop it."""
        return payload_pb2.ErrorInfo(
            type="UndeliverableMessage", message=self.text, executor_id=self.source_id
        )


class UndeliverableError(Exception):
    """The run fails: a message was undeliverable and the workflow is strict."""

    def __init__(self, undeliverable: Undeliverable) -> None:
        super().__init__(undeliverable.text)
        self.undeliverable = undeliverable


@dataclass
class RoutingResult:
    deliveries: list[payload_pb2.Message] = field(default_factory=list)
    fan_in: dict[int, list[payload_pb2.Message]] = field(default_factory=dict)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (executor id, text)
    undeliverable: list[Undeliverable] = field(default_factory=list)


__all__ = [
    "BATCH_TYPE",
    "ConditionError",
    "RoutingResult",
    "Undeliverable",
    "UndeliverableError",
    "queries",
    "route",
    "settle",
]


def queries(graph: Graph, sent: list[payload_pb2.Message]) -> list[tuple[int, Expression]]:
    """The (message index, expression) pairs `route` needs verdicts for."""
    return [
        (i, expression)
        for i, message in enumerate(sent)
        if (expressions := graph.expressions_from(message.source_id))
        and (not message.target_id or graph.connected(message.source_id, message.target_id))
        for expression in expressions
    ]


def settle(graph: Graph, result: RoutingResult) -> list[tuple[str, str]]:
    """The warnings to log for `result`: with the undeliverable messages
    among them when the workflow drops them, else raises `UndeliverableError`
    for the first."""
    if not result.undeliverable:
        return result.warnings
    if graph.definition.undeliverable != DROP:
        raise UndeliverableError(result.undeliverable[0])
    dropped = [(u.source_id, u.text) for u in result.undeliverable]
    return result.warnings + dropped


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
    for index, message in enumerate(sent):
        _route_one(graph, message, _Judge(verdicts, index, message, result), accepts, result)
    return result


@dataclass
class _Judge:
    """The verdicts on one message; a non-boolean condition is reported and
    taken as false."""

    verdicts: Verdicts
    index: int
    message: payload_pb2.Message
    result: RoutingResult

    def holds(self, condition: Expression) -> bool:
        value = self.verdicts.of(self.index, condition)
        if isinstance(value, NotBoolean):
            detail = f"{condition.where}: the condition returned {value.shown}, not a boolean"
            self.result.undeliverable.append(_undeliverable(self.message, NOT_BOOLEAN, detail))
            return False
        return value is True

    def chosen(self, selection: Expression) -> Any:
        return self.verdicts.of(self.index, selection)


def _undeliverable(message: payload_pb2.Message, cause: str, detail: str) -> Undeliverable:
    return Undeliverable(message.source_id, message.payload.type_name, cause, detail)


def _route_one(
    graph: Graph,
    message: payload_pb2.Message,
    judge: _Judge,
    accepts: Mapping[str, frozenset[str]],
    result: RoutingResult,
) -> None:
    source, explicit = message.source_id, message.target_id
    if explicit and not graph.connected(source, explicit):
        detail = f"no edge connects {source!r} to its explicit target {explicit!r}"
        result.undeliverable.append(_undeliverable(message, NO_EDGE, detail))
        return
    routed = delivered = False
    refused: list[tuple[str, str]] = []
    edges = graph.edges_from(source)
    for edge in edges:
        targets = _targets(edge, judge)
        if explicit:
            targets = [t for t in targets if t == explicit] or (
                [explicit] if edge.kind is EdgeKind.FAN_IN and explicit in edge.targets else []
            )
        if not targets:
            continue
        routed = True
        if edge.kind is EdgeKind.FAN_IN:
            delivered = True  # the batch is checked when it is delivered
            _buffer(edge, message, result, accepts)
            continue
        for target in targets:
            why = _deliver(target, message, accepts, result)
            if why:
                refused.append((target, why))
            else:
                delivered = True
    if not routed:
        detail = (
            f"no edge's condition held for it (edges from {source!r}: {len(edges)})"
            if edges
            else f"{source!r} has no outgoing edge"
        )
        result.undeliverable.append(_undeliverable(message, NO_EDGE, detail))
    elif not delivered:
        detail = "; ".join(why for _, why in refused)
        result.undeliverable.append(_undeliverable(message, NOT_ACCEPTED, detail))
    elif refused:
        type_name = message.payload.type_name
        result.warnings += [
            (t, f"message of type {type_name!r} from {source!r} not delivered: {why}")
            for t, why in refused
        ]


_TAKES_ANY: frozenset[str] = frozenset()


def _deliver(
    target: str,
    message: payload_pb2.Message,
    accepts: Mapping[str, frozenset[str]],
    result: RoutingResult,
) -> str:
    """Deliver `message` to `target`; or why not ("" when delivered)."""
    types = accepts.get(target, _TAKES_ANY)
    if types and not accepts_type(types, message.payload.type_name):
        return f"{target!r} takes {type_list(types)}"
    result.deliveries.append(
        payload_pb2.Message(source_id=message.source_id, target_id=target, payload=message.payload)
    )
    return ""


def _targets(edge: CompiledEdge, judge: _Judge) -> Sequence[str]:
    kind = edge.kind
    if kind is EdgeKind.FAN_IN:
        return edge.targets
    if kind is EdgeKind.DIRECT:
        if edge.condition and not judge.holds(edge.condition):
            return ()
        return edge.targets
    if kind is EdgeKind.FAN_OUT:
        if edge.selection is None:
            return edge.targets
        chosen = judge.chosen(edge.selection)
        return [t for t in edge.targets if t in chosen]
    for condition, target in edge.cases:
        if judge.holds(condition):
            return (target,)
    return (edge.default_target,)


def _buffer(
    edge: CompiledEdge,
    message: payload_pb2.Message,
    result: RoutingResult,
    accepts: Mapping[str, frozenset[str]],
) -> None:
    buffered = result.fan_in.setdefault(edge.index, [])
    buffered.append(message)
    if {m.source_id for m in buffered} >= set(edge.sources):
        batch = payload_pb2.MessageBatch(messages=buffered)
        del result.fan_in[edge.index]
        delivered = payload_pb2.Message(
            source_id="",
            payload=payload_pb2.Payload(
                type_name=BATCH_TYPE, content_type=PROTOBUF, data=batch.SerializeToString()
            ),
        )
        why = _deliver(edge.targets[0], delivered, accepts, result)
        if why:
            result.undeliverable.append(_undeliverable(delivered, NOT_ACCEPTED, why))
