"""What differs between two checkpoints: executor states (with a path-by-path
diff of JSON states), pending messages, fan-in buffers, shared state, open
requests and pending responses. Pure functions of the two contents."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stepline.v1 import payload_pb2, runner_pb2

from . import output

_MISSING = object()
MAX_CHANGES = 50  # per state: past that, a count


@dataclass(frozen=True)
class Change:
    """One JSON path whose value differs; `before`/`after` absent when added/removed."""

    path: str
    before: Any = _MISSING
    after: Any = _MISSING

    def text(self) -> str:
        if self.before is _MISSING:
            return f"+ {self.path}: {_short(self.after)}"
        if self.after is _MISSING:
            return f"- {self.path}: {_short(self.before)}"
        return f"~ {self.path}: {_short(self.before)} -> {_short(self.after)}"

    def as_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {"path": self.path}
        if self.before is not _MISSING:
            result["before"] = self.before
        if self.after is not _MISSING:
            result["after"] = self.after
        return result


def json_changes(before: Any, after: Any, path: str = "$") -> list[Change]:
    """Every leaf that differs between two JSON values, objects key by key and
    arrays index by index."""
    if isinstance(before, dict) and isinstance(after, dict):
        changes: list[Change] = []
        for key in sorted(before.keys() | after.keys()):
            sub = f"{path}.{key}"
            if key not in after:
                changes.append(Change(sub, before=before[key]))
            elif key not in before:
                changes.append(Change(sub, after=after[key]))
            else:
                changes.extend(json_changes(before[key], after[key], sub))
        return changes
    if isinstance(before, list) and isinstance(after, list):
        changes = []
        for index in range(max(len(before), len(after))):
            sub = f"{path}[{index}]"
            if index >= len(after):
                changes.append(Change(sub, before=before[index]))
            elif index >= len(before):
                changes.append(Change(sub, after=after[index]))
            else:
                changes.extend(json_changes(before[index], after[index], sub))
        return changes
    if before == after and type(before) is type(after):
        return []
    return [Change(path, before, after)]


@dataclass
class MapDiff:
    """Entries of a map of payloads (executor states, shared state) compared."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, list[Change]] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return not (self.added or self.removed or self.changed)


def payload_map_diff(
    before: Mapping[str, payload_pb2.Payload], after: Mapping[str, payload_pb2.Payload]
) -> MapDiff:
    diff = MapDiff()
    for key in sorted(before.keys() | after.keys()):
        if key not in after:
            diff.removed.append(key)
        elif key not in before:
            diff.added.append(key)
        elif before[key].SerializeToString(deterministic=True) == after[key].SerializeToString(
            deterministic=True
        ):
            diff.unchanged.append(key)
        else:
            diff.changed[key] = _payload_changes(before[key], after[key])
    return diff


def _payload_changes(before: payload_pb2.Payload, after: payload_pb2.Payload) -> list[Change]:
    a, b = output.payload_json(before), output.payload_json(after)
    if "value" in a and "value" in b:
        changes = json_changes(a["value"], b["value"])
        if a["type_name"] != b["type_name"]:
            changes.insert(0, Change("type_name", a["type_name"], b["type_name"]))
        return changes or [Change("$", "(same value)", "(other encoding)")]
    return [Change("$", f"<{len(before.data)} bytes>", f"<{len(after.data)} bytes>")]


@dataclass
class ListDiff:
    """Items of a list compared as multisets, by a one-line rendering."""

    removed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    count: tuple[int, int] = (0, 0)

    @property
    def same(self) -> bool:
        return not (self.added or self.removed)


def list_diff(before: Sequence[str], after: Sequence[str]) -> ListDiff:
    a, b = Counter(before), Counter(after)
    return ListDiff(
        removed=sorted((a - b).elements()),
        added=sorted((b - a).elements()),
        count=(len(before), len(after)),
    )


def message_text(message: payload_pb2.Message) -> str:
    source = message.source_id or "input"
    target = message.target_id or "(edges)"
    return (
        f"{source} -> {target} {message.payload.type_name} "
        f"{output.payload_text(message.payload, 60)}"
    )


def request_text(request: payload_pb2.InputRequest) -> str:
    return (
        f"{request.request_id} from {request.executor_id} wants {request.response_type}: "
        f"{output.payload_text(request.data, 60)}"
    )


@dataclass
class CheckpointDiff:
    before: runner_pb2.Checkpoint
    after: runner_pb2.Checkpoint
    executor_states: MapDiff
    pending_messages: ListDiff
    fan_in_buffers: ListDiff
    shared_state: MapDiff
    pending_requests: ListDiff
    pending_responses: ListDiff

    @property
    def same(self) -> bool:
        parts = (
            self.executor_states,
            self.pending_messages,
            self.fan_in_buffers,
            self.shared_state,
            self.pending_requests,
            self.pending_responses,
        )
        return all(p.same for p in parts)


def diff_checkpoints(a: runner_pb2.Checkpoint, b: runner_pb2.Checkpoint) -> CheckpointDiff:
    """Compare two checkpoints fetched with their content."""
    ca, cb = a.content, b.content

    def buffers(content: runner_pb2.CheckpointContent) -> list[str]:
        return [
            f"edge {buffer.edge_index}: {message_text(m)}"
            for buffer in content.fan_in_buffers
            for m in buffer.messages
        ]

    def responses(content: runner_pb2.CheckpointContent) -> list[str]:
        return [
            f"{r.request.request_id}: {output.payload_text(r.response, 60)}"
            for r in content.pending_responses
        ]

    return CheckpointDiff(
        before=a,
        after=b,
        executor_states=payload_map_diff(ca.executor_states, cb.executor_states),
        pending_messages=list_diff(
            [message_text(m) for m in ca.pending_messages],
            [message_text(m) for m in cb.pending_messages],
        ),
        fan_in_buffers=list_diff(buffers(ca), buffers(cb)),
        shared_state=payload_map_diff(ca.shared_state, cb.shared_state),
        pending_requests=list_diff(
            [request_text(r) for r in ca.pending_requests],
            [request_text(r) for r in cb.pending_requests],
        ),
        pending_responses=list_diff(responses(ca), responses(cb)),
    )


def diff_lines(diff: CheckpointDiff) -> list[str]:
    """The diff for people, a line at a time."""
    a, b = diff.before, diff.after
    lines = [
        f"checkpoint {a.checkpoint_id} (run {a.run_id}, superstep {a.superstep})",
        f"        vs {b.checkpoint_id} (run {b.run_id}, superstep {b.superstep})",
    ]
    lines += _map_lines("executor states", diff.executor_states)
    lines += _list_lines("pending messages", diff.pending_messages)
    lines += _list_lines("fan-in buffers", diff.fan_in_buffers)
    lines += _map_lines("shared state", diff.shared_state)
    lines += _list_lines("pending requests", diff.pending_requests)
    lines += _list_lines("pending responses", diff.pending_responses)
    return lines


def _map_lines(title: str, diff: MapDiff) -> list[str]:
    if diff.same:
        return [f"{title}: same ({len(diff.unchanged)})"]
    counts = [
        f"{len(diff.changed)} changed",
        f"{len(diff.added)} added",
        f"{len(diff.removed)} removed",
        f"{len(diff.unchanged)} unchanged",
    ]
    lines = [f"{title}: {', '.join(counts)}"]
    for key, changes in diff.changed.items():
        lines.append(f"  ~ {key}")
        lines += [f"      {c.text()}" for c in changes[:MAX_CHANGES]]
        if len(changes) > MAX_CHANGES:
            lines.append(f"      ... and {len(changes) - MAX_CHANGES} more")
    lines += [f"  + {key}" for key in diff.added]
    lines += [f"  - {key}" for key in diff.removed]
    return lines


def _list_lines(title: str, diff: ListDiff) -> list[str]:
    if diff.same:
        return [f"{title}: same ({diff.count[0]})"]
    lines = [f"{title}: {diff.count[0]} -> {diff.count[1]}"]
    lines += [f"  - {item}" for item in diff.removed]
    lines += [f"  + {item}" for item in diff.added]
    return lines


def diff_json(diff: CheckpointDiff) -> dict[str, Any]:
    def map_json(m: MapDiff) -> dict[str, Any]:
        return {
            "added": m.added,
            "removed": m.removed,
            "changed": {k: [c.as_json() for c in v] for k, v in m.changed.items()},
            "unchanged": m.unchanged,
        }

    def list_json(d: ListDiff) -> dict[str, Any]:
        return {"added": d.added, "removed": d.removed, "count": list(d.count)}

    return {
        "before": output.message_json(_metadata(diff.before)),
        "after": output.message_json(_metadata(diff.after)),
        "same": diff.same,
        "executor_states": map_json(diff.executor_states),
        "pending_messages": list_json(diff.pending_messages),
        "fan_in_buffers": list_json(diff.fan_in_buffers),
        "shared_state": map_json(diff.shared_state),
        "pending_requests": list_json(diff.pending_requests),
        "pending_responses": list_json(diff.pending_responses),
    }


def _metadata(checkpoint: runner_pb2.Checkpoint) -> runner_pb2.Checkpoint:
    bare = runner_pb2.Checkpoint()
    bare.CopyFrom(checkpoint)
    bare.ClearField("content")
    return bare


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"
