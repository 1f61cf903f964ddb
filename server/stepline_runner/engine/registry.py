"""Workflow registration: validate a definition against the executors that
will run it, store it, and keep it compiled for runs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from stepline.v1 import executor_pb2, workflow_pb2

from ..store import Store
from .conditions import ConditionEvaluator
from .edges import EdgeKind
from .errors import FailedPrecondition, InvalidArgument, NotFound, Reason
from .graph import Graph
from .inputs import accepts_any, accepts_type, type_list
from .limits import Limits
from .ports import ExecutorCallError, ExecutorPort
from .routing import BATCH_TYPE
from .validation import check_id

DESCRIBE_TIMEOUT = 5.0


@dataclass(frozen=True)
class Workflow:
    graph: Graph
    # Executor id -> the payload type names it takes (from Describe).
    accepts: dict[str, frozenset[str]]


class WorkflowRegistry:
    def __init__(
        self,
        store: Store,
        executors: ExecutorPort,
        conditions: ConditionEvaluator,
        limits: Limits,
    ) -> None:
        self._store = store
        self._executors = executors
        self._conditions = conditions
        self._limits = limits
        self._compiled: dict[str, Workflow] = {}

    async def register(self, definition: workflow_pb2.WorkflowDefinition) -> Workflow:
        graph = await self._compile(definition)
        described = await self._describe_all(graph)
        workflow = self._bind(graph, described)
        _check_edge_types(graph, workflow.accepts, described)
        await self._store.put_workflow(definition, graph.signature)
        self._compiled[graph.workflow_id] = workflow
        return workflow

    async def get(self, workflow_id: str) -> Workflow:
        """The registered workflow, described afresh after a runner restart."""
        workflow = self._compiled.get(workflow_id)
        if workflow is not None:
            return workflow
        check_id(workflow_id, "workflow_id", self._limits.id_length)
        stored = await self._store.get_workflow(workflow_id)
        if stored is None:
            raise NotFound(
                f"no workflow {workflow_id!r} is registered; register it first",
                reason=Reason.WORKFLOW_NOT_FOUND,
                context={"workflow_id": workflow_id},
            )
        # Checked again: it may have been stored by a runner with looser checks.
        graph = await self._compile(stored[0])
        workflow = self._bind(graph, await self._describe_all(graph))
        self._compiled[workflow_id] = workflow
        return workflow

    async def definition(self, workflow_id: str) -> tuple[workflow_pb2.WorkflowDefinition, str]:
        check_id(workflow_id, "workflow_id", self._limits.id_length)
        stored = await self._store.get_workflow(workflow_id)
        if stored is None:
            raise NotFound(
                f"no workflow {workflow_id!r} is registered",
                reason=Reason.WORKFLOW_NOT_FOUND,
                context={"workflow_id": workflow_id},
            )
        return stored

    async def _compile(self, definition: workflow_pb2.WorkflowDefinition) -> Graph:
        graph = Graph.compile(definition, self._limits)
        await self._conditions.check(graph.expressions)
        return graph

    async def _describe_all(self, graph: Graph) -> dict[str, executor_pb2.DescribeResponse]:
        endpoints = sorted({n.endpoint for n in graph.nodes.values()})
        results = await asyncio.gather(
            *(self._executors.describe(e, DESCRIBE_TIMEOUT) for e in endpoints),
            return_exceptions=True,
        )
        described: dict[str, executor_pb2.DescribeResponse] = {}
        for endpoint, result in zip(endpoints, results, strict=True):
            if isinstance(result, ExecutorCallError):
                users = ", ".join(n.id for n in graph.nodes.values() if n.endpoint == endpoint)
                raise FailedPrecondition(
                    f"executor service at {endpoint} (used by {users}) did not answer Describe: "
                    f"{result.code}: {result.message}. Start it, or fix the endpoint",
                    reason=Reason.EXECUTOR_SERVICE_UNREACHABLE,
                    context={"workflow_id": graph.workflow_id, "endpoint": endpoint},
                )
            if isinstance(result, BaseException):
                raise result
            described[endpoint] = result
        return described

    def _bind(self, graph: Graph, described: dict[str, executor_pb2.DescribeResponse]) -> Workflow:
        accepts: dict[str, frozenset[str]] = {}
        for node in graph.nodes.values():
            types = {t.name: t for t in described[node.endpoint].executor_types}
            node_type = graph.node_type(node.id)
            if node_type not in types:
                raise FailedPrecondition(
                    f"executor {node.id!r}: the service at {node.endpoint} hosts no executor type "
                    f"{node_type!r}; it hosts: {', '.join(sorted(types)) or 'nothing'}",
                    reason=Reason.EXECUTOR_TYPE_NOT_HOSTED,
                    context={"executor_id": node.id, "endpoint": node.endpoint},
                )
            accepts[node.id] = frozenset(types[node_type].input_types)
        return Workflow(graph, accepts)


def _check_edge_types(
    graph: Graph,
    accepts: dict[str, frozenset[str]],
    described: dict[str, executor_pb2.DescribeResponse],
) -> None:
    """Refuse edges whose target takes none of the types its source sends."""

    def sends(executor_id: str) -> frozenset[str]:
        node = graph.nodes[executor_id]
        for t in described[node.endpoint].executor_types:
            if t.name == graph.node_type(executor_id):
                return frozenset(t.output_types)
        return frozenset()

    def check(source: str, target: str, edge_index: int, takes: frozenset[str]) -> None:
        out = sends(source)
        if not accepts_any(takes, out):
            raise InvalidArgument(
                f"edges[{edge_index}]: {target!r} takes {type_list(takes)} but "
                f"{source!r} sends only {type_list(out)}",
                reason=Reason.EDGE_TYPE_MISMATCH,
                context={"edge": str(edge_index)},
            )

    for edge in graph.edges:
        if edge.kind is EdgeKind.FAN_IN:
            target = edge.targets[0]
            if not accepts_type(accepts[target], BATCH_TYPE):
                raise InvalidArgument(
                    f"edges[{edge.index}]: fan-in target {target!r} needs a handler that takes a "
                    "list of messages (type stepline.v1.MessageBatch)",
                    reason=Reason.EDGE_TYPE_MISMATCH,
                    context={"edge": str(edge.index)},
                )
            continue
        for source in edge.sources:
            for target in edge.targets:
                check(source, target, edge.index, accepts[target])
