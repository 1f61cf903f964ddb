"""Read YAML (or JSON, which YAML reads too) into plain values, keeping where
each value starts in the file.

A workflow file may come from anyone, so reading is bounded: the file's size,
the nesting depth, the number of values, no aliases (the "billion laughs" bomb is built from them),
no tags beyond plain strings, numbers, booleans and null (so no `!!python/...`
object construction), no duplicate keys (PyYAML would keep the last silently).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any

import yaml

from ._errors import Problem, WorkflowFileError, bounded

MAX_FILE_BYTES = 1 << 20
MAX_DEPTH = 32
MAX_NODES = 50_000
"""Values (scalars, lists, mappings) in one file: parsing is pure Python, and
50,000 of them take about a second."""

Path = tuple[str | int, ...]
"""Where a value sits in the document: keys and list indexes from the root."""

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null")}


def render(path: Path) -> str:
    """`executors[0].endpoint`: a path as a person reads it."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text or "(the document)"


@dataclass
class Document:
    """A file's value and the line and column (from 1) where each part starts."""

    file: str
    value: Any
    marks: dict[Path, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """Where the value at `path` starts (its key's place with `key`), or
        where its nearest ancestor in the file starts."""
        if key and path in self.key_marks:
            return self.key_marks[path]
        while path not in self.marks and path:
            path = path[:-1]
        return self.marks.get(path, (1, 1))

    def problem(self, path: Path, message: str, *, key: bool = False) -> Problem:
        line, column = self.position(path, key=key)
        return Problem(self.file, line, column, bounded(message))


def read_file(path: str | FilePath, max_bytes: int = MAX_FILE_BYTES) -> Document:
    """Read and parse a file of at most `max_bytes`."""
    name = str(path)
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise WorkflowFileError([Problem(name, 1, 1, bounded(exc.strerror or str(exc)))]) from exc
    return parse(data, name, max_bytes)


def parse(data: bytes | str, name: str = "<string>", max_bytes: int = MAX_FILE_BYTES) -> Document:
    """Parse one YAML document of at most `max_bytes` into a `Document`."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > max_bytes:
        message = f"the file is over {max_bytes} bytes; a workflow file is smaller than that"
        raise WorkflowFileError([Problem(name, 1, 1, message)])
    text = _decode(raw, name)
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        line, column = _line_column(text, exc.position)
        message = f"character #x{exc.character:04x} is not allowed in YAML"
        raise WorkflowFileError([Problem(name, line, column, message)]) from exc
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        json_document = _json(text, name)
        if json_document is None:
            raise WorkflowFileError([_problem(name, exc)]) from exc
        return json_document
    finally:
        loader.dispose()
    if node is None:
        raise WorkflowFileError([Problem(name, 1, 1, "the file is empty")])
    document = Document(name, None)
    document.value = _Builder(loader, document).value(node, ())
    return document


def _json(text: str, name: str) -> Document | None:
    """JSON that YAML does not read (YAML forbids tabs as indentation), without
    positions; None if it is not JSON either."""
    if not text.lstrip().startswith("{"):
        return None
    try:
        return Document(name, json.loads(text, object_pairs_hook=_unique))
    except (ValueError, RecursionError):
        return None


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise ValueError("duplicate key")
    return value


def _decode(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, column = _line_column(raw[: exc.start].decode("utf-8", "replace"), exc.start)
        raise WorkflowFileError(
            [Problem(name, line, column, "the file is not UTF-8 text")]
        ) from exc


def _line_column(text: str, position: int) -> tuple[int, int]:
    before = text[:position]
    return before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1


def _problem(name: str, exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    message = " ".join(p for p in (exc.context, exc.problem) if p) or "not valid YAML"
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    return Problem(name, line, column, bounded(message))


class _Refused(yaml.MarkedYAMLError):
    def __init__(self, problem: str, mark: yaml.Mark) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class _Loader(yaml.SafeLoader):
    """The pure-Python safe loader, refusing aliases and deep nesting while it
    composes (before anything is expanded)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            raise _Refused("aliases (*name) are not allowed in a workflow file", self._mark())
        self._depth += 1
        self._nodes += 1
        try:
            if self._nodes > MAX_NODES:
                message = f"more than {MAX_NODES} values; a workflow file has fewer"
                raise _Refused(message, self._mark())
            if self._depth > MAX_DEPTH:
                raise _Refused(f"nested more than {MAX_DEPTH} levels deep", self._mark())
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def _mark(self) -> yaml.Mark:
        mark: yaml.Mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
        return mark


class _Builder:
    """Plain values from composed nodes, recording each one's position."""

    def __init__(self, loader: _Loader, document: Document) -> None:
        self.loader = loader
        self.document = document

    def value(self, node: yaml.Node, path: Path) -> Any:
        self.document.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            self._expect(node, "map")
            return dict(self._items(node, path))
        if isinstance(node, yaml.SequenceNode):
            self._expect(node, "seq")
            return [self.value(item, (*path, i)) for i, item in enumerate(node.value)]
        if node.tag not in _SCALAR_TAGS:
            raise self._refuse(node, f"{_tag(node)} values are not allowed; quote it as a string")
        return self.loader.construct_object(node)

    def _items(self, node: yaml.MappingNode, path: Path) -> Iterator[tuple[str, Any]]:
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _TAG + "str":
                raise self._refuse(key_node, "keys must be plain strings")
            key = key_node.value
            if key in seen:
                raise self._refuse(key_node, f"duplicate key {key!r}")
            seen.add(key)
            mark = key_node.start_mark
            self.document.key_marks[(*path, key)] = (mark.line + 1, mark.column + 1)
            yield key, self.value(value_node, (*path, key))

    def _expect(self, node: yaml.Node, kind: str) -> None:
        if node.tag != _TAG + kind:
            raise self._refuse(node, f"{_tag(node)} is not allowed here")

    def _refuse(self, node: yaml.Node, message: str) -> WorkflowFileError:
        mark = node.start_mark
        problem = Problem(self.document.file, mark.line + 1, mark.column + 1, bounded(message))
        return WorkflowFileError([problem])


def _tag(node: yaml.Node) -> str:
    tag: str = node.tag
    return "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else f"tag {tag!r}"
