"""What goes wrong in a workflow file, and where.

ValueError
  WorkflowFileError      one or more `Problem`s, each FILE:LINE:COLUMN: message
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MAX_MESSAGE = 300
"""Messages quote what the file says; a hostile file must not make them huge."""


@dataclass(frozen=True)
class Problem:
    """One fault of a workflow file: `line` and `column` count from 1."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class WorkflowFileError(ValueError):
    """A workflow file that cannot be read, or does not describe a valid workflow."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError("a WorkflowFileError needs at least one problem")
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def bounded(message: str, limit: int = MAX_MESSAGE) -> str:
    """`message` cut to `limit` characters, on one line."""
    flat = " ".join(message.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
