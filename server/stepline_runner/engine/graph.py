"""A workflow definition, validated and compiled for routing.

`Graph.compile` refuses a malformed definition with `InvalidWorkflow` naming
the fault. Conditions and selections are CEL expressions, compiled once here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import cel

from stepline.v1 import payload_pb2, workflow_pb2

from .errors import InvalidWorkflow

DEFAULT_MAX_SUPERSTEPS = 100
MAX_EXECUTE_TIMEOUT = 7 * 24 * 3600.0


@dataclass(frozen=True)
class Expression:
    """A compiled CEL expression over `message` and `type_name`."""

    source: str
    where: str
    program: Any

    @classmethod
    def compile(cls, source: str, where: str) -> Expression:
        try:
            program = cel.compile(source)
        except (ValueError, RuntimeError) as exc:
            raise InvalidWorkflow(f"{where}: invalid CEL expression {source!r}: {exc}") from exc
        return cls(source, where, program)

    def evaluate(self, message: Any, type_name: str) -> Any:
        return self.program.execute({"message": message, "type_name": type_name})


@dataclass
class CompiledEdge:
    """One edge of the definition with its expressions compiled."""

    index: int
    kind: str
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    condition: Expression | None = None
    selection: Expression | None = None
    cases: list[tuple[Expression, str]] = field(default_factory=list)
    default_target: str = ""


@dataclass
class Graph:
    definition: workflow_pb2.WorkflowDefinition
    nodes: dict[str, workflow_pb2.ExecutorNode]
    edges: list[CompiledEdge]
    signature: str

    @property
    def workflow_id(self) -> str:
        return self.definition.workflow_id

    @property
    def start_id(self) -> str:
        return self.definition.start_executor_id

    @property
    def max_supersteps(self) -> int:
        return self.definition.max_supersteps or DEFAULT_MAX_SUPERSTEPS

    def node_type(self, executor_id: str) -> str:
        node = self.nodes[executor_id]
        return node.type or node.id

    def edges_from(self, source_id: str) -> Iterator[CompiledEdge]:
        return (e for e in self.edges if source_id in e.sources)

    def connected(self, source_id: str, target_id: str) -> bool:
        return any(target_id in e.targets for e in self.edges_from(source_id))

    @classmethod
    def compile(cls, definition: workflow_pb2.WorkflowDefinition) -> Graph:
        _require(definition.workflow_id, "workflow_id is required")
        nodes: dict[str, workflow_pb2.ExecutorNode] = {}
        for i, node in enumerate(definition.executors):
            _require(node.id, f"executors[{i}]: id is required")
            _require(node.endpoint, f"executor {node.id!r}: endpoint (host:port) is required")
            if node.id in nodes:
                raise InvalidWorkflow(f"duplicate executor id {node.id!r}")
            timeout = node.execute_timeout.ToTimedelta().total_seconds()
            if not 0 <= timeout <= MAX_EXECUTE_TIMEOUT:
                raise InvalidWorkflow(
                    f"executor {node.id!r}: execute_timeout must be between 0 (none) and "
                    f"{MAX_EXECUTE_TIMEOUT:g} seconds"
                )
            nodes[node.id] = node
        _require(nodes, "a workflow needs at least one executor")
        _require(definition.start_executor_id, "start_executor_id is required")
        if definition.start_executor_id not in nodes:
            raise InvalidWorkflow(
                f"start executor {definition.start_executor_id!r} is not one of the "
                f"workflow's executors ({', '.join(nodes)})"
            )
        if definition.max_supersteps < 0:
            raise InvalidWorkflow("max_supersteps must be positive (0 means the default)")
        if definition.retention.keep_last < 0:
            raise InvalidWorkflow("retention.keep_last must be 0 (keep all) or more")
        check_policy(definition.checkpoint_policy, "checkpoint_policy")
        edges = [_compile_edge(i, e, nodes) for i, e in enumerate(definition.edges)]
        return cls(definition, nodes, edges, signature_of(definition))


def check_policy(policy: workflow_pb2.CheckpointPolicy, where: str) -> None:
    if policy.mode == workflow_pb2.CheckpointPolicy.MODE_EVERY_N_SUPERSTEPS and policy.every_n < 1:
        raise InvalidWorkflow(f"{where}: MODE_EVERY_N_SUPERSTEPS needs every_n of 1 or more")


def signature_of(definition: workflow_pb2.WorkflowDefinition) -> str:
    """Hash of the topology: executor ids and types, edges, start. Endpoints,
    deadlines and limits may change without invalidating checkpoints."""
    topology = workflow_pb2.WorkflowDefinition(
        start_executor_id=definition.start_executor_id, edges=definition.edges
    )
    for node in definition.executors:
        topology.executors.add(id=node.id, type=node.type or node.id)
    return hashlib.sha256(topology.SerializeToString(deterministic=True)).hexdigest()[:32]


def _require(value: object, message: str) -> None:
    if not value:
        raise InvalidWorkflow(message)


def _compile_edge(
    index: int, edge: workflow_pb2.Edge, nodes: dict[str, workflow_pb2.ExecutorNode]
) -> CompiledEdge:
    kind = edge.WhichOneof("kind")
    where = f"edges[{index}] ({kind})"
    if kind is None:
        raise InvalidWorkflow(f"edges[{index}]: set one of direct, fan_out, fan_in, switch_case")

    def known(executor_id: str, role: str) -> str:
        if not executor_id:
            raise InvalidWorkflow(f"{where}: {role} is required")
        if executor_id not in nodes:
            raise InvalidWorkflow(f"{where}: {role} {executor_id!r} is not a defined executor")
        return executor_id

    def expression(source: str) -> Expression | None:
        return Expression.compile(source, where) if source else None

    if kind == "direct":
        d = edge.direct
        return CompiledEdge(
            index,
            kind,
            (known(d.source_id, "source"),),
            (known(d.target_id, "target"),),
            condition=expression(d.condition),
        )
    if kind == "fan_out":
        f = edge.fan_out
        _require(f.target_ids, f"{where}: at least one target is required")
        return CompiledEdge(
            index,
            kind,
            (known(f.source_id, "source"),),
            tuple(known(t, "target") for t in f.target_ids),
            selection=expression(f.selection),
        )
    if kind == "fan_in":
        g = edge.fan_in
        _require(len(g.source_ids) >= 2, f"{where}: a fan-in needs at least two sources")
        if len(set(g.source_ids)) != len(g.source_ids):
            raise InvalidWorkflow(f"{where}: sources must be distinct")
        return CompiledEdge(
            index,
            kind,
            tuple(known(s, "source") for s in g.source_ids),
            (known(g.target_id, "target"),),
        )
    s = edge.switch_case
    _require(s.cases, f"{where}: at least one case is required")
    if not s.default_target_id:
        raise InvalidWorkflow(f"{where}: a switch-case needs a default target")
    cases = []
    for i, case in enumerate(s.cases):
        _require(case.condition, f"{where}: cases[{i}] needs a condition")
        cases.append(
            (
                Expression.compile(case.condition, f"{where} cases[{i}]"),
                known(case.target_id, "target"),
            )
        )
    default = known(s.default_target_id, "default target")
    return CompiledEdge(
        index,
        kind,
        (known(s.source_id, "source"),),
        (*(t for _, t in cases), default),
        cases=cases,
        default_target=default,
    )


def message_value(payload: payload_pb2.Payload) -> Any:
    """What a CEL expression sees as `message`: the JSON value, or None."""
    import json

    if payload.content_type not in ("", "application/json") or not payload.data:
        return None
    try:
        return json.loads(payload.data)
    except ValueError:
        return None
