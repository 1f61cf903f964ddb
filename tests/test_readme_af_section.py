"""README's "Coming from Agent Framework": its examples are valid Python and
every Stepline call its mapping names exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from stepline import RunnerClient, WorkflowBuilder, WorkflowContext

ROOT = Path(__file__).resolve().parents[1]


def section() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Coming from Agent Framework")
    return readme[start : readme.index("\n## ", start + 1)]


def test_the_examples_parse() -> None:
    blocks = re.findall(r"```python\n(.*?)```", section(), re.DOTALL)
    assert len(blocks) >= 4  # conditions, selections, fan-in, switch-case
    for block in blocks:
        ast.parse(block.replace("await ", ""))


def test_the_mapping_names_only_calls_that_exist() -> None:
    stepline_column = [
        row.split(" | ")[-1] for row in section().splitlines() if row.startswith("|")
    ]
    text = "\n".join(stepline_column)
    owners = {"client": RunnerClient, "ctx": WorkflowContext}
    for owner, name in re.findall(r"\b(client|ctx)\.(\w+)\(", text):
        assert hasattr(owners[owner], name), f"{owner}.{name}"
    for name in re.findall(r"`\.?((?:add|set)_\w+)\(", text):
        assert hasattr(WorkflowBuilder, name) or hasattr(WorkflowContext, name), name
