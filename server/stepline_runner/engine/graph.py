"""A workflow definition, validated and compiled for routing.

`Graph.compile` refuses a malformed or oversized definition with
`InvalidWorkflow` (or `InvalidArgument` for a bad id) naming the fault; each
edge is compiled by `edges.compile_edge`. CEL expressions are checked against
their caps here; `conditions` compiles and evaluates them, out of process.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from stepline.v1 import workflow_pb2

from .conditions import Expression
from .edges import CompiledEdge, compile_edge, require
from .errors import InvalidWorkflow
from .limits import Limits
from .retry_policy import check_retry_policies
from .validation import check_id, check_workflow_key, short

DEFAULT_MAX_SUPERSTEPS = 100
MAX_EXECUTE_TIMEOUT = 7 * 24 * 3600.0
MAX_ENDPOINT_LENGTH = 512


@dataclass
class Graph:
    definition: workflow_pb2.WorkflowDefinition
    nodes: dict[str, workflow_pb2.ExecutorNode]
    edges: list[CompiledEdge]
    signature: str
    # What routing asks of each source, every superstep: made once per graph.
    _from: dict[str, tuple[CompiledEdge, ...]] = field(init=False, repr=False, compare=False)
    _expressions_from: dict[str, tuple[Expression, ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self._from = edges_by_source(self.edges)
        self._expressions_from = {
            source: tuple(x for e in edges for x in e.expressions)
            for source, edges in self._from.items()
        }

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

    def edges_from(self, source_id: str) -> tuple[CompiledEdge, ...]:
        """The edges from `source_id`, in the definition's order."""
        return self._from.get(source_id, ())

    def expressions_from(self, source_id: str) -> tuple[Expression, ...]:
        """The expressions of `edges_from(source_id)`, in evaluation order."""
        return self._expressions_from.get(source_id, ())

    def connected(self, source_id: str, target_id: str) -> bool:
        return any(target_id in e.targets for e in self.edges_from(source_id))

    @property
    def expressions(self) -> list[Expression]:
        return [x for e in self.edges for x in e.expressions]

    @classmethod
    def compile(
        cls, definition: workflow_pb2.WorkflowDefinition, limits: Limits | None = None
    ) -> Graph:
        limits = limits or Limits()
        _check_size(definition, limits)
        require(definition.workflow_id, "workflow_id is required")
        check_workflow_key(definition.workflow_id, "workflow_id", limits.id_length)
        nodes: dict[str, workflow_pb2.ExecutorNode] = {}
        for i, node in enumerate(definition.executors):
            require(node.id, f"executors[{i}]: id is required")
            check_id(node.id, f"executors[{i}]: id", limits.id_length)
            check_id(node.type, f"executor {node.id!r}: type", limits.id_length, required=False)
            require(node.endpoint, f"executor {node.id!r}: endpoint (host:port) is required")
            check_id(node.endpoint, f"executor {node.id!r}: endpoint", MAX_ENDPOINT_LENGTH)
            if node.id in nodes:
                raise InvalidWorkflow(f"duplicate executor id {node.id!r}")
            timeout = node.execute_timeout.ToTimedelta().total_seconds()
            if not 0 <= timeout <= MAX_EXECUTE_TIMEOUT:
                raise InvalidWorkflow(
                    f"executor {node.id!r}: execute_timeout must be between 0 (none) and "
                    f"{MAX_EXECUTE_TIMEOUT:g} seconds"
                )
            nodes[node.id] = node
        require(nodes, "a workflow needs at least one executor")
        require(definition.start_executor_id, "start_executor_id is required")
        if definition.start_executor_id not in nodes:
            raise InvalidWorkflow(
                f"start executor {short(definition.start_executor_id)} is not one of the "
                f"workflow's executors ({short(', '.join(nodes), 200)})"
            )
        if definition.max_supersteps < 0:
            raise InvalidWorkflow("max_supersteps must be positive (0 means the default)")
        if definition.retention.keep_last < 0:
            raise InvalidWorkflow("retention.keep_last must be 0 (keep all) or more")
        check_policy(definition.checkpoint_policy, "checkpoint_policy")
        check_retry_policies(definition)
        edges = [compile_edge(i, e, nodes, limits) for i, e in enumerate(definition.edges)]
        return cls(definition, nodes, edges, signature_of(definition))


def edges_by_source(edges: list[CompiledEdge]) -> dict[str, tuple[CompiledEdge, ...]]:
    """Each source's edges, in the order of `edges` (an edge once per source)."""
    found: dict[str, list[CompiledEdge]] = {}
    for edge in edges:
        for source in dict.fromkeys(edge.sources):
            found.setdefault(source, []).append(edge)
    return {source: tuple(from_it) for source, from_it in found.items()}


def _check_size(definition: workflow_pb2.WorkflowDefinition, limits: Limits) -> None:
    caps = (
        (definition.ByteSize(), limits.definition_bytes, "bytes", "definition_bytes"),
        (len(definition.executors), limits.executors, "executors", "executors"),
        (len(definition.edges), limits.edges, "edges", "edges"),
    )
    for count, cap, what, option in caps:
        if count > cap:
            raise InvalidWorkflow(
                f"the workflow definition has {count} {what}, over the cap of {cap} "
                f"(runner option --limit {option}=N)"
            )


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
