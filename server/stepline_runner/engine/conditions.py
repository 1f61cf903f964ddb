"""CEL expressions on edges: compiling them, and what they see of a message.

Conditions (direct edges, switch cases) and selections (fan-out edges) are
compiled once, when the workflow is registered. Routing never evaluates them
itself: it asks for verdicts (see `routing.evaluations`) and an evaluator
answers, so how and where expressions run is decided here, in one place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import cel

from stepline.v1 import payload_pb2

from .errors import InvalidWorkflow


@dataclass(frozen=True)
class Expression:
    """A compiled CEL expression over `message` and `type_name`."""

    source: str
    where: str
    program: Any

    @classmethod
    def compile(cls, source: str, where: str) -> Expression:
        try:
            program = cel.compile(source)
        except (ValueError, RuntimeError) as exc:
            raise InvalidWorkflow(f"{where}: invalid CEL expression {source!r}: {exc}") from exc
        return cls(source, where, program)

    def evaluate(self, message: Any, type_name: str) -> Any:
        return self.program.execute({"message": message, "type_name": type_name})


def message_value(payload: payload_pb2.Payload) -> Any:
    """What a CEL expression sees as `message`: the JSON value, or None."""
    if payload.content_type not in ("", "application/json") or not payload.data:
        return None
    try:
        return json.loads(payload.data)
    except ValueError:
        return None
