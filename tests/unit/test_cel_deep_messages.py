"""A message nested too deeply for JSON to decode is, to a condition, a
message it cannot read (`message` is null), not a dead evaluator."""

from __future__ import annotations

from stepline.v1 import payload_pb2
from stepline_runner.engine.conditions import ConditionEvaluator, Expression


async def test_a_deeply_nested_message_reads_as_null() -> None:
    evaluator = ConditionEvaluator(budget=30.0)
    deep = payload_pb2.Payload(
        type_name="deep", content_type="application/json", data=b"[" * 100_000 + b"]" * 100_000
    )
    is_null = Expression("message == null", "edges[0] (direct)")
    try:
        verdicts = await evaluator.verdicts(
            [(0, is_null)], [payload_pb2.Message(source_id="a", payload=deep)]
        )
        assert verdicts.of(0, is_null) is True
    finally:
        await evaluator.close()
