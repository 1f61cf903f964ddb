"""Checking a workflow file offline with the runner's own graph rules.

`Graph.compile` (the runner's registration check, CEL compilation included)
names a fault by the definition's structure ("edges[2] (direct): ...",
"executor 'x': ..."); `graph_problems` places that in the file and names the
edge by its ends. What only the runner can check (the executor services and
their types) comes back from registration with the edge, executor or endpoint
in the status details; `runner_problem` places that.
"""

from __future__ import annotations

import re

from stepline.errors import SteplineError
from stepline.v1 import workflow_pb2
from stepline.workflow_file import Path, Problem, WorkflowFile
from stepline_runner.engine.conditions import check_compiles_here
from stepline_runner.engine.errors import InvalidArgument
from stepline_runner.engine.graph import Graph

_EDGE = re.compile(r"edges\[(\d+)\]")
_CASE = re.compile(r"cases\[(\d+)\]")
_NODE_INDEX = re.compile(r"executors\[(\d+)\]")
_NODE_ID = re.compile(r"executor (?:id )?'([^']*)'")
_NODE_FIELD = re.compile(r"executor '[^']*': (type|endpoint|execute_timeout)\b")
_TOP_LEVEL = (
    "start_executor_id",
    "workflow_id",
    "max_supersteps",
    "retention",
    "checkpoint_policy",
)
_CEL_FIELD = {"direct": "condition", "fan_out": "selection"}


def graph_problems(file: WorkflowFile) -> list[Problem]:
    """What the runner would refuse in the file's graph, placed in the file
    (the runner stops at the first fault, so at most one)."""
    try:
        check_compiles_here(Graph.compile(file.definition).expressions)
    except InvalidArgument as exc:
        return [locate(file, str(exc))]
    return []


def locate(file: WorkflowFile, message: str) -> Problem:
    """The engine's `message`, at the part of the file it is about."""
    definition = file.definition
    edge = _EDGE.search(message)
    if edge and int(edge[1]) < len(definition.edges):
        index = int(edge[1])
        path = _edge_path(definition.edges[index], index, message)
        return file.document.problem(path, f"{edge_name(definition.edges[index])}: {message}")
    return file.document.problem(_other_path(definition, message), message)


def runner_problem(file: WorkflowFile, exc: SteplineError) -> Problem | None:
    """Where in the file a refusal of the runner is, if its details say."""
    definition, details = file.definition, exc.metadata
    message = f"{exc.code.name}: {exc}"
    if details.get("edge", "").isdigit() and int(details["edge"]) < len(definition.edges):
        index = int(details["edge"])
        name = edge_name(definition.edges[index])
        return file.document.problem(("edges", index), f"{name}: {message}")
    nodes = list(enumerate(definition.executors))
    if "executor_id" in details:
        found = [i for i, n in nodes if n.id == details["executor_id"]]
        return file.document.problem(("executors", found[-1]), message) if found else None
    if "endpoint" in details:
        found = [i for i, n in nodes if n.endpoint == details["endpoint"]]
        path: Path = ("executors", found[0], "endpoint") if found else ()
        return file.document.problem(path, message) if found else None
    return None


def edge_name(edge: workflow_pb2.Edge) -> str:
    """How a person tells the edge apart: its kind and its ends."""
    kind = edge.WhichOneof("kind")
    if kind == "direct":
        return f"edge {edge.direct.source_id!r} -> {edge.direct.target_id!r}"
    if kind == "fan_out":
        return f"fan-out edge from {edge.fan_out.source_id!r}"
    if kind == "fan_in":
        return f"fan-in edge to {edge.fan_in.target_id!r}"
    if kind == "switch_case":
        return f"switch-case edge from {edge.switch_case.source_id!r}"
    return "edge"


def _edge_path(edge: workflow_pb2.Edge, index: int, message: str) -> Path:
    """The edge, or the CEL expression that does not compile in it."""
    kind = edge.WhichOneof("kind")
    path: Path = ("edges", index)
    if kind is None or "CEL" not in message:
        return path
    case = _CASE.search(message)
    if case:
        return (*path, kind, "cases", int(case[1]), "condition")
    return (*path, kind, _CEL_FIELD[kind]) if kind in _CEL_FIELD else path


def _other_path(definition: workflow_pb2.WorkflowDefinition, message: str) -> Path:
    if "over the cap" in message:
        return next(((k,) for k in ("executors", "edges") if k in message), ())
    index = _NODE_INDEX.search(message)
    if index:
        return ("executors", int(index[1]), "id")
    node = _NODE_ID.search(message)
    if node and not message.startswith("start executor"):
        # The last of that id: for a duplicate, the second one is the fault.
        matches = [i for i, n in enumerate(definition.executors) if n.id == node[1]]
        if matches:
            field = _NODE_FIELD.search(message)
            return ("executors", matches[-1], *((field[1],) if field else ()))
    if "executor" in message and "start" not in message:
        return ("executors",)
    for key in _TOP_LEVEL:
        if key.split("_")[0] in message:
            return (key,)
    return ()
