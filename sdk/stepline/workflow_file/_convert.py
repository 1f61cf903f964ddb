"""A workflow file's value <-> `WorkflowDefinition`, and the file's text.

The file is the protobuf JSON mapping of the definition with the .proto's own
field names, so any language with protobuf can read and write it too.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import yaml
from google.protobuf import json_format

from stepline.v1 import workflow_pb2

from ._errors import WorkflowFileError
from ._yaml import Document

# How `dump` orders the top-level keys: what the workflow is, then its graph,
# then its settings (field-number order would put the start after the edges).
TOP_LEVEL = (
    "workflow_id",
    "start_executor_id",
    "max_supersteps",
    "checkpoint_policy",
    "retention",
    "undeliverable",
    "default_retry_policy",
    "max_concurrent_runs",
    "executors",
    "edges",
)

Format = Literal["yaml", "json"]


def to_dict(definition: workflow_pb2.WorkflowDefinition) -> dict[str, Any]:
    """The file's value for `definition` (fields at their defaults left out)."""
    value = json_format.MessageToDict(definition, preserving_proto_field_name=True)
    ordered = {k: value.pop(k) for k in TOP_LEVEL if k in value}
    return ordered | value  # a field added to the .proto later still shows up


def from_document(document: Document) -> workflow_pb2.WorkflowDefinition:
    """The definition a schema-checked document describes."""
    try:
        return json_format.ParseDict(document.value, workflow_pb2.WorkflowDefinition())
    except json_format.ParseError as exc:  # the schema should have caught it
        raise WorkflowFileError([document.problem((), str(exc))]) from exc


def dump(definition: workflow_pb2.WorkflowDefinition, format: Format = "yaml") -> str:
    """The workflow file text of `definition`."""
    value = to_dict(definition)
    if format == "json":
        return json.dumps(value, indent=2, ensure_ascii=False) + "\n"
    text: str = yaml.dump(value, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 16)
    return text


class _Dumper(yaml.SafeDumper):
    """Lists of ids on one line; CEL with 'quotes' in "double quotes"."""

    def represent_list(self, data: Any) -> yaml.Node:  # type: ignore[override]
        flow = all(isinstance(item, str) for item in data)
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)

    def choose_scalar_style(self) -> str:
        style: str = super().choose_scalar_style()
        event = self.event
        if style == "'" and isinstance(event, yaml.ScalarEvent) and "'" in event.value:
            return '"'
        return style


_Dumper.add_representer(list, _Dumper.represent_list)
