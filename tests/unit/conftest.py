"""`harness`: a `Runner` on a real SQLite file with in-process executor hosts
(`stepline.testing.InProcessRunner`), fresh for each test; `evaluator`: a CEL
condition evaluator with a 5 s budget, closed after the test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stepline.testing import InProcessRunner, of_kind, outputs
from stepline_runner.engine.conditions import ConditionEvaluator

# The names tests imported from here before stepline.testing had them.
Harness = InProcessRunner
__all__ = ["Harness", "of_kind", "outputs"]


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[InProcessRunner]:
    async with await InProcessRunner.open(tmp_path / "stepline.db") as harness:
        yield harness


@pytest.fixture
async def evaluator() -> AsyncIterator[ConditionEvaluator]:
    evaluator = ConditionEvaluator(budget=5.0)
    yield evaluator
    await evaluator.close()
