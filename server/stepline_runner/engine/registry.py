"""Workflow registration: validate a definition against the executors that
will run it, store it, and keep it compiled for runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from stepline.v1 import executor_pb2, workflow_pb2

from ..store import Store, StoredWorkflow
from .admission import check_limits
from .allowlist import AllowList
from .conditions import ConditionEvaluator
from .edges import EdgeKind
from .errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, Reason
from .graph import Graph
from .inputs import accepts_any, accepts_type, type_list
from .limits import Limits
from .ports import ExecutorCallError, ExecutorPort
from .routing import BATCH_TYPE
from .validation import check_workflow_key

DESCRIBE_TIMEOUT = 5.0
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Workflow:
    graph: Graph
    # Executor id -> the payload type names it takes (from Describe).
    accepts: dict[str, frozenset[str]]
    # Immutable once stored: runs pinned to it keep its endpoints.
    version: int


class WorkflowRegistry:
    def __init__(
        self,
        store: Store,
        executors: ExecutorPort,
        conditions: ConditionEvaluator,
        limits: Limits,
        allowed: AllowList | None = None,
    ) -> None:
        self._store = store
        # None: every endpoint (an in-process ExecutorPort dials nothing).
        self._allowed = allowed
        self._executors = executors
        self._conditions = conditions
        self._limits = limits
        # (workflow id, version) -> compiled; 0 stands for no version.
        self._compiled: dict[tuple[str, int], Workflow] = {}
        # Workflow id -> its latest version, while no other runner uses the
        # database: every new version is registered here then, so finding
        # the latest needs no read. None once shared (`share`).
        self._latest: dict[str, int] | None = {}
        # Told a workflow's id when a registration of it failed, or may have
        # landed unheard (admission.py counts it as a new limit).
        self.on_unsure: Callable[[str], None] = lambda workflow_id: None

    def share(self) -> None:
        """Other runners register versions too: read the latest each time."""
        self._latest = None

    def _saw(self, workflow_id: str, version: int) -> None:
        if self._latest is not None:
            self._latest[workflow_id] = max(self._latest.get(workflow_id, 0), version)

    def _unsure(self, workflow_id: str) -> None:
        if self._latest is not None:
            self._latest.pop(workflow_id, None)
        self.on_unsure(workflow_id)

    def dialable(
        self, nodes: Iterable[workflow_pb2.ExecutorNode]
    ) -> list[workflow_pb2.ExecutorNode]:
        """The nodes whose endpoints the runner may dial now: the allow-list
        and the TLS rules may have changed since their version was stored."""
        allowed = self._allowed
        return [
            n
            for n in nodes
            if allowed is None
            or (
                allowed.refusal(n.endpoint) is None
                and allowed.plaintext_refusal(n.endpoint) is None
            )
        ]

    async def register(self, definition: workflow_pb2.WorkflowDefinition) -> Workflow:
        """Validate a definition and store it as the workflow's next version."""
        graph = await self._compile(definition)
        described = await self._describe_all(graph)
        workflow = self._bind(graph, described, 0)
        _check_edge_types(graph, workflow.accepts, described)
        try:
            version = await self._store.put_workflow(definition, graph.signature)
        except BaseException:
            # It may have landed (a connection lost at COMMIT): the latest is
            # not known any more until read.
            self._unsure(graph.workflow_id)
            raise
        workflow = Workflow(graph, workflow.accepts, version)
        self._compiled[graph.workflow_id, version] = workflow
        self._saw(graph.workflow_id, version)
        return workflow

    async def get(self, workflow_id: str, version: int = 0) -> Workflow:
        """A version of the workflow (0: the latest), described afresh after a
        runner restart."""
        known = version or (self._latest or {}).get(workflow_id, 0)
        if known:
            workflow = self._compiled.get((workflow_id, known))
            if workflow is not None:
                return workflow
        stored = await self.stored(workflow_id, version)
        if not version:
            self._saw(workflow_id, stored.version)
        workflow = self._compiled.get((workflow_id, stored.version))
        if workflow is not None:
            return workflow
        # Checked again: it may have been stored by a runner with looser checks.
        graph = await self._compile(stored.definition)
        workflow = self._bind(graph, await self._describe_all(graph), stored.version)
        self._compiled[workflow_id, stored.version] = workflow
        return workflow

    async def stored(self, workflow_id: str, version: int = 0) -> StoredWorkflow:
        """A stored version (0: the latest); no executor is asked."""
        check_workflow_key(workflow_id, "workflow_id", self._limits.id_length)
        if version < 0:
            raise InvalidArgument(
                f"version must be 0 (the latest) or more, not {version}",
                reason=Reason.INVALID_VERSION,
                context={"workflow_id": workflow_id},
            )
        stored = await self._store.get_workflow(workflow_id, version)
        if stored is None:
            which = f"version {version} of workflow" if version else "workflow"
            raise NotFound(
                f"no {which} {workflow_id!r} is registered",
                reason=Reason.WORKFLOW_NOT_FOUND,
                context={"workflow_id": workflow_id, "version": str(version)},
            )
        return stored

    async def definition(self, workflow_id: str) -> tuple[workflow_pb2.WorkflowDefinition, str]:
        stored = await self.stored(workflow_id)
        return stored.definition, stored.signature

    async def _compile(self, definition: workflow_pb2.WorkflowDefinition) -> Graph:
        graph = Graph.compile(definition, self._limits)
        check_limits(definition)
        await self._conditions.check(graph.expressions)
        return graph

    async def _describe_all(self, graph: Graph) -> dict[str, executor_pb2.DescribeResponse]:
        endpoints = sorted({n.endpoint for n in graph.nodes.values()})
        for endpoint in endpoints:  # before any is dialled
            refusal = self._allowed.refusal(endpoint) if self._allowed else None
            if refusal is not None:
                raise PermissionDenied(
                    f"{refusal} (used by {_users(graph, endpoint)})",
                    reason=Reason.ENDPOINT_NOT_ALLOWED,
                    context={"workflow_id": graph.workflow_id, "endpoint": endpoint[:128]},
                )
            plaintext = self._allowed.plaintext_refusal(endpoint) if self._allowed else None
            if plaintext is not None:
                raise PermissionDenied(
                    f"{plaintext} (used by {_users(graph, endpoint)})",
                    reason=Reason.ENDPOINT_NEEDS_TLS,
                    context={"workflow_id": graph.workflow_id, "endpoint": endpoint[:128]},
                )
        results = await asyncio.gather(
            *(self._executors.describe(e, DESCRIBE_TIMEOUT) for e in endpoints),
            return_exceptions=True,
        )
        described: dict[str, executor_pb2.DescribeResponse] = {}
        for endpoint, result in zip(endpoints, results, strict=True):
            if isinstance(result, ExecutorCallError):
                # What answered there (nothing, not gRPC, another service) stays
                # in the runner's log: telling the caller would make a port scanner.
                log.warning("executor service at %s: Describe failed: %s", endpoint, result)
                raise FailedPrecondition(
                    f"executor service at {endpoint} (used by {_users(graph, endpoint)}) is "
                    "unreachable. Start it, or fix the endpoint",
                    reason=Reason.EXECUTOR_SERVICE_UNREACHABLE,
                    context={"workflow_id": graph.workflow_id, "endpoint": endpoint},
                )
            if isinstance(result, BaseException):
                raise result
            described[endpoint] = result
        return described

    def _bind(
        self, graph: Graph, described: dict[str, executor_pb2.DescribeResponse], version: int
    ) -> Workflow:
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
        return Workflow(graph, accepts, version)


def _users(graph: Graph, endpoint: str) -> str:
    return ", ".join(n.id for n in graph.nodes.values() if n.endpoint == endpoint)


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
