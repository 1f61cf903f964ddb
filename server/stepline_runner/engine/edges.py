"""Edge kinds, and compiling one edge of a definition for routing.

Adding an edge kind takes: a member of `EdgeKind` (its value is the name of
the field in `Edge`'s `kind` oneof), a compiler in `_COMPILERS` below (its
validation), and its targets in `routing._TARGETS` (its routing).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stepline.v1 import workflow_pb2

from .conditions import Expression, check_expression
from .errors import InvalidWorkflow
from .limits import Limits
from .validation import short


class EdgeKind(enum.Enum):
    DIRECT = "direct"
    FAN_OUT = "fan_out"
    FAN_IN = "fan_in"
    SWITCH_CASE = "switch_case"


@dataclass
class CompiledEdge:
    """One edge of the definition with its expressions compiled."""

    index: int
    kind: EdgeKind
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    condition: Expression | None = None
    selection: Expression | None = None
    cases: list[tuple[Expression, str]] = field(default_factory=list)
    default_target: str = ""

    @property
    def expressions(self) -> list[Expression]:
        """The edge's CEL expressions, in evaluation order."""
        found = [e for e in (self.condition, self.selection) if e is not None]
        return found + [c for c, _ in self.cases]


def require(value: object, message: str) -> None:
    if not value:
        raise InvalidWorkflow(message)


@dataclass(frozen=True)
class _Site:
    """Where in the definition an edge is, to name it in errors."""

    index: int
    where: str
    nodes: Mapping[str, workflow_pb2.ExecutorNode]
    limits: Limits

    def known(self, executor_id: str, role: str) -> str:
        if not executor_id:
            raise InvalidWorkflow(f"{self.where}: {role} is required")
        if executor_id not in self.nodes:
            raise InvalidWorkflow(
                f"{self.where}: {role} {short(executor_id)} is not a defined executor"
            )
        return executor_id

    def expression(self, source: str, where: str = "", kind: str = "condition") -> Expression:
        """Checked against the caps here; compiled by the evaluator."""
        where = where or self.where
        limits = self.limits
        check_expression(source, where, limits.expression_bytes, limits.expression_nesting)
        return Expression(source, where, kind)


def compile_edge(
    index: int,
    edge: workflow_pb2.Edge,
    nodes: Mapping[str, workflow_pb2.ExecutorNode],
    limits: Limits,
) -> CompiledEdge:
    name = edge.WhichOneof("kind")
    if name is None:
        kinds = ", ".join(k.value for k in EdgeKind)
        raise InvalidWorkflow(f"edges[{index}]: set one of {kinds}")
    kind = EdgeKind(name)
    site = _Site(index, f"edges[{index}] ({name})", nodes, limits)
    return _COMPILERS[kind](site, getattr(edge, name))


def _direct(site: _Site, d: workflow_pb2.DirectEdge) -> CompiledEdge:
    return CompiledEdge(
        site.index,
        EdgeKind.DIRECT,
        (site.known(d.source_id, "source"),),
        (site.known(d.target_id, "target"),),
        condition=site.expression(d.condition) if d.condition else None,
    )


def _fan_out(site: _Site, f: workflow_pb2.FanOutEdge) -> CompiledEdge:
    require(f.target_ids, f"{site.where}: at least one target is required")
    return CompiledEdge(
        site.index,
        EdgeKind.FAN_OUT,
        (site.known(f.source_id, "source"),),
        tuple(site.known(t, "target") for t in f.target_ids),
        selection=site.expression(f.selection, kind="selection") if f.selection else None,
    )


def _fan_in(site: _Site, g: workflow_pb2.FanInEdge) -> CompiledEdge:
    require(len(g.source_ids) >= 2, f"{site.where}: a fan-in needs at least two sources")
    if len(set(g.source_ids)) != len(g.source_ids):
        raise InvalidWorkflow(f"{site.where}: sources must be distinct")
    return CompiledEdge(
        site.index,
        EdgeKind.FAN_IN,
        tuple(site.known(s, "source") for s in g.source_ids),
        (site.known(g.target_id, "target"),),
    )


def _switch_case(site: _Site, s: workflow_pb2.SwitchCaseEdge) -> CompiledEdge:
    require(s.cases, f"{site.where}: at least one case is required")
    if not s.default_target_id:
        raise InvalidWorkflow(f"{site.where}: a switch-case needs a default target")
    cases = []
    for i, case in enumerate(s.cases):
        require(case.condition, f"{site.where}: cases[{i}] needs a condition")
        cases.append(
            (
                site.expression(case.condition, f"{site.where} cases[{i}]"),
                site.known(case.target_id, "target"),
            )
        )
    default = site.known(s.default_target_id, "default target")
    return CompiledEdge(
        site.index,
        EdgeKind.SWITCH_CASE,
        (site.known(s.source_id, "source"),),
        (*(t for _, t in cases), default),
        cases=cases,
        default_target=default,
    )


_COMPILERS: dict[EdgeKind, Callable[[_Site, Any], CompiledEdge]] = {
    EdgeKind.DIRECT: _direct,
    EdgeKind.FAN_OUT: _fan_out,
    EdgeKind.FAN_IN: _fan_in,
    EdgeKind.SWITCH_CASE: _switch_case,
}
