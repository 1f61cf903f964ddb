"""CEL conditions: caps checked before the library sees an expression, and
evaluation in a worker process that is killed when it runs over budget."""

from __future__ import annotations

import asyncio

import pytest

from stepline import payloads
from stepline.v1 import payload_pb2
from stepline_runner.engine.conditions import (
    ConditionError,
    ConditionEvaluator,
    Expression,
    nesting,
)
from stepline_runner.engine.errors import InvalidWorkflow
from stepline_runner.engine.limits import Limits

NUMBERS = "[" + ",".join(str(i) for i in range(300)) + "]"
SLOW = f"{NUMBERS}.map(x, {NUMBERS}.map(y, x*y)).size() > 0"


def sent(*values: object) -> list[payload_pb2.Message]:
    return [payload_pb2.Message(source_id="a", payload=payloads.encode(v)) for v in values]


def test_nesting_counts_brackets_outside_string_literals() -> None:
    assert nesting("message.a > 1") == 0
    assert nesting("[[1], (2)]") == 2
    assert nesting("'((((' + \"[[\" + '''{{'''") == 0
    assert nesting(r"'\'(' + (1)") == 1


def test_limits_parse_names_values_and_ceilings() -> None:
    assert Limits.parse(["cel_budget=0.5", "id-length=64"]) == Limits(cel_budget=0.5, id_length=64)
    assert Limits.parse(["executors=100000", "watch_buffer_bytes=1073741824"]) == Limits(
        executors=100_000, watch_buffer_bytes=1024 * 1024 * 1024
    )
    for bad, says in [
        (["nope=1"], "NAME one of"),
        (["edges=many"], "not a number"),
        (["edges=0"], "must be positive"),
        (["expression_bytes=100000"], "at most 16,384"),
        (["executors=100001"], "at most 100,000"),
        (["edges=9999999999"], "at most 1,000,000"),
        (["watch_buffer_bytes=1073741825"], "at most 1,073,741,824"),
        (["cel_budget=61"], "at most 60"),
    ]:
        with pytest.raises(ValueError, match=says):
            Limits.parse(bad)


async def test_verdicts_of_conditions_and_selections() -> None:
    evaluator = ConditionEvaluator(budget=5.0)
    even = Expression("message.value % 2 == 0", "edges[0] (direct)")
    pick = Expression("['b', 'c']", "edges[1] (fan_out)", "selection")
    wrong = Expression("message.nope", "edges[2] (direct)")
    try:
        messages = sent({"value": 1}, {"value": 2})
        verdicts = await evaluator.verdicts([(0, even), (1, even), (0, pick), (0, wrong)], messages)
        assert verdicts.of(0, even) is False
        assert verdicts.of(1, even) is True
        assert verdicts.of(0, pick) == ["b", "c"]
        with pytest.raises(ConditionError, match=r"edges\[2\] \(direct\): evaluating on a"):
            verdicts.of(0, wrong)
    finally:
        await evaluator.close()


async def test_an_expression_that_does_not_compile_is_refused() -> None:
    evaluator = ConditionEvaluator(budget=5.0)
    try:
        with pytest.raises(InvalidWorkflow, match=r"edges\[0\] \(fan_out\): invalid CEL"):
            await evaluator.check([Expression("[", "edges[0] (fan_out)", "selection")])
    finally:
        await evaluator.close()


async def test_an_evaluation_over_budget_is_stopped_and_the_loop_never_waits() -> None:
    evaluator = ConditionEvaluator(budget=0.3)
    slow = Expression(SLOW, "edges[3] (direct)")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)  # counts loop turns while the worker evaluates
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        with pytest.raises(ConditionError, match=r"edges\[3\] \(direct\).*budget of 0.3 s"):
            await evaluator.verdicts([(0, slow)], sent(1))
        # The event loop went on meanwhile: a loop blocked by the evaluation
        # would tick once at most; ~30 on an idle machine, fewer on a loaded one.
        assert ticks >= 3
        # The killed worker is replaced: the next verdict comes.
        fast = Expression("true", "edges[0] (direct)")
        assert (await evaluator.verdicts([(0, fast)], sent(1))).of(0, fast) is True
    finally:
        ticker.cancel()
        await evaluator.close()
