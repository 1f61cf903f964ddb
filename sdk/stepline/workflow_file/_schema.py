"""The workflow file's JSON Schema (workflow.schema.json beside this module),
and checking a document against it with every fault placed in the file."""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any, cast

import jsonschema

from ._errors import Problem, WorkflowFileError
from ._yaml import Document, Path, render

MAX_PROBLEMS = 20


@functools.cache
def schema() -> dict[str, Any]:
    """The JSON Schema of a workflow file (draft 2020-12)."""
    text = resources.files(__package__).joinpath("workflow.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator(schema())


def check(document: Document) -> None:
    """Raise `WorkflowFileError` naming each place where the document breaks the
    schema (at most `MAX_PROBLEMS`, in file order)."""
    errors = _validator().iter_errors(document.value)
    problems = sorted(
        (_problem(document, e) for e in errors), key=lambda p: (p.line, p.column, p.message)
    )
    if problems:
        raise WorkflowFileError(problems[:MAX_PROBLEMS])


def _problem(document: Document, error: jsonschema.ValidationError) -> Problem:
    path: Path = tuple(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(_properties(error))
        instance = cast(dict[str, Any], error.instance)
        key = next(k for k in instance if k not in allowed)
        hint = difflib.get_close_matches(key, allowed, n=1)
        known = f"did you mean {hint[0]!r}?" if hint else f"known keys: {', '.join(allowed)}"
        return document.problem(
            (*path, key), f"{render(path)}: unknown key {key!r}; {known}", key=True
        )
    return document.problem(path, f"{render(path)}: {_message(error)}")


DURATIONS = ("execute_timeout", "initial_backoff", "max_backoff")


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator in ("minProperties", "maxProperties") and "direct" in _properties(error):
        return "an edge is exactly one of direct, fan_out, fan_in, switch_case"
    if error.validator == "pattern" and error.path and error.path[-1] in DURATIONS:
        return f'{error.instance!r} is not a duration in seconds like "30s" or "0.5s"'
    if error.validator == "pattern" and error.instance == "":
        return "must not be empty"
    if error.validator == "pattern":
        return f"{error.instance!r} may hold only printable ASCII characters, without spaces"
    if error.validator == "maxLength":
        return f"is longer than {error.validator_value} characters"
    if error.validator == "minItems":
        return f"needs at least {error.validator_value} item(s)"
    return error.message


def _properties(error: jsonschema.ValidationError) -> dict[str, Any]:
    schema = error.schema
    properties = schema.get("properties", {}) if isinstance(schema, Mapping) else {}
    return dict(properties)
