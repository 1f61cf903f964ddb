"""Workflow files: a `WorkflowDefinition` as YAML (or JSON) any language can write.

    workflow_id: orders
    start_executor_id: check
    executors:
    - id: check
      endpoint: 127.0.0.1:50051
    - id: ship
      endpoint: 127.0.0.1:50052
      execute_timeout: 30s
    edges:
    - direct:
        source_id: check
        target_id: ship
        condition: message.ok

The keys are the .proto's field names (the protobuf JSON mapping), checked by
the JSON Schema `schema()`. `load` reads a file safely (bounded size and depth,
no aliases, no tags) and raises `WorkflowFileError`, whose problems say
FILE:LINE:COLUMN: message; `dump` writes a definition back, `mermaid` and `dot` draw it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path as FilePath

from stepline.v1 import workflow_pb2

from ._convert import Format, dump, from_document, to_dict
from ._errors import Problem, WorkflowFileError
from ._render import dot, mermaid
from ._schema import check, schema
from ._yaml import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, Document, Path, render
from ._yaml import parse as _parse
from ._yaml import read_file as _read_file

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "Document",
    "Format",
    "Path",
    "Problem",
    "WorkflowFile",
    "WorkflowFileError",
    "dot",
    "dump",
    "load",
    "loads",
    "mermaid",
    "parse",
    "read",
    "render",
    "schema",
    "to_dict",
]


@dataclass(frozen=True)
class WorkflowFile:
    """A checked workflow file: its definition and where each part of it is."""

    document: Document
    definition: workflow_pb2.WorkflowDefinition


def read(path: str | FilePath) -> WorkflowFile:
    """Read, parse and schema-check the file at `path`."""
    return _checked(_read_file(path))


def parse(text: str | bytes, name: str = "<string>") -> WorkflowFile:
    """Parse and schema-check workflow file text; `name` is what problems call it."""
    return _checked(_parse(text, name))


def load(path: str | FilePath) -> workflow_pb2.WorkflowDefinition:
    """The definition in the file at `path`; `WorkflowFileError` if it is not one."""
    return read(path).definition


def loads(text: str | bytes, name: str = "<string>") -> workflow_pb2.WorkflowDefinition:
    """The definition in workflow file text."""
    return parse(text, name).definition


def _checked(document: Document) -> WorkflowFile:
    check(document)
    return WorkflowFile(document, from_document(document))
