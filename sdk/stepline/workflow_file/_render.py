"""A definition as a picture: Mermaid flowchart or Graphviz DOT text.

Executors are grouped by the service (endpoint) that hosts them; an edge is
labelled with its kind and CEL expression when it has one. Labels come from
the definition, which anyone may have registered, so they are escaped for each
language and cut short.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from stepline.v1 import workflow_pb2

MAX_LABEL = 60


@dataclass(frozen=True)
class Arrow:
    source: str
    target: str
    label: str = ""


def arrows(definition: workflow_pb2.WorkflowDefinition) -> Iterator[Arrow]:
    """Every source -> target pair the edges route, labelled."""
    for edge in definition.edges:
        kind = edge.WhichOneof("kind")
        if kind == "direct":
            yield Arrow(edge.direct.source_id, edge.direct.target_id, edge.direct.condition)
        elif kind == "fan_out":
            f = edge.fan_out
            label = f"fan-out: {f.selection}" if f.selection else "fan-out"
            yield from (Arrow(f.source_id, t, label) for t in f.target_ids)
        elif kind == "fan_in":
            yield from (Arrow(s, edge.fan_in.target_id, "fan-in") for s in edge.fan_in.source_ids)
        elif kind == "switch_case":
            s = edge.switch_case
            for i, case in enumerate(s.cases, 1):
                yield Arrow(s.source_id, case.target_id, f"case {i}: {case.condition}")
            yield Arrow(s.source_id, s.default_target_id, "default")


def services(definition: workflow_pb2.WorkflowDefinition) -> dict[str, list[str]]:
    """Endpoint -> the ids of the executors it hosts, in definition order."""
    grouped: dict[str, list[str]] = {}
    for node in definition.executors:
        grouped.setdefault(node.endpoint, []).append(node.id)
    return grouped


def node_label(node: workflow_pb2.ExecutorNode) -> str:
    return f"{node.id} ({node.type})" if node.type and node.type != node.id else node.id


def mermaid(definition: workflow_pb2.WorkflowDefinition) -> str:
    """A Mermaid flowchart, left to right; ids become n0, n1... (Mermaid's
    own ids allow few characters), with the executor ids as labels."""
    ids = {node.id: f"n{i}" for i, node in enumerate(definition.executors)}
    labels = {node.id: node_label(node) for node in definition.executors}
    lines = ["flowchart LR"]
    for i, (endpoint, members) in enumerate(services(definition).items()):
        lines.append(f'  subgraph s{i} ["{_mermaid_text(endpoint)}"]')
        lines += [f'    {ids[m]}["{_mermaid_text(labels[m])}"]' for m in members]
        lines.append("  end")
    start = definition.start_executor_id
    if start in ids:
        lines.append(f"  start((start)) --> {ids[start]}")
    for arrow in arrows(definition):
        source, target = ids.get(arrow.source, "unknown"), ids.get(arrow.target, "unknown")
        label = f'|"{_mermaid_text(arrow.label)}"|' if arrow.label else ""
        lines.append(f"  {source} -->{label} {target}")
    return "\n".join(lines) + "\n"


def dot(definition: workflow_pb2.WorkflowDefinition) -> str:
    """A Graphviz digraph, left to right, a cluster per service."""
    head = f"digraph {_dot_id(definition.workflow_id)} {{"
    lines = [head, "  rankdir=LR;", "  node [shape=box];"]
    labels = {node.id: node_label(node) for node in definition.executors}
    for i, (endpoint, members) in enumerate(services(definition).items()):
        lines.append(f"  subgraph cluster_{i} {{")
        lines.append(f"    label={_dot_label(endpoint)};")
        for m in members:
            label = f" [label={_dot_label(labels[m])}]" if labels[m] != m else ""
            lines.append(f"    {_dot_id(m)}{label};")
        lines.append("  }")
    if definition.start_executor_id:
        lines.append('  "" [shape=point];')
        lines.append(f'  "" -> {_dot_id(definition.start_executor_id)};')
    for arrow in arrows(definition):
        label = f" [label={_dot_label(arrow.label)}]" if arrow.label else ""
        lines.append(f"  {_dot_id(arrow.source)} -> {_dot_id(arrow.target)}{label};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _short(text: str) -> str:
    """One line, no control characters (a label must not drive a terminal)."""
    flat = "".join(c if c.isprintable() else "\ufffd" for c in " ".join(text.split()))
    return flat if len(flat) <= MAX_LABEL else flat[: MAX_LABEL - 1] + "…"


def _mermaid_text(text: str) -> str:
    """Inside a quoted Mermaid label: entity codes for what would end or mark it up."""
    escaped = _short(text).replace("#", "#35;")
    for char, code in (('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        escaped = escaped.replace(char, code)
    return escaped


def _dot_label(text: str) -> str:
    return _dot_id(_short(text))


def _dot_id(text: str) -> str:
    """A quoted DOT string (ids in full: cut short, two could become one)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
