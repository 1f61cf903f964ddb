"""`definition(*edges)`: a workflow of executors a, b and c with the given
edges, for tests of graph compilation, routing and the superstep's parts."""

from __future__ import annotations

from stepline.v1 import workflow_pb2 as W


def definition(*edges: W.Edge, start: str = "a") -> W.WorkflowDefinition:
    return W.WorkflowDefinition(
        workflow_id="w",
        executors=[W.ExecutorNode(id=x, endpoint="svc:1") for x in ("a", "b", "c")],
        edges=edges,
        start_executor_id=start,
    )
