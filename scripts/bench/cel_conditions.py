"""CEL condition benchmark: what routing through an expression costs.

Conditions are evaluated in a worker process (engine/conditions.py), one
round trip per superstep that needs verdicts. This measures, per superstep,
that round trip for 1 and for `--fanout` messages, against calling the CEL
library in the runner's own process (what the runner did before, and what it
can no longer do safely), and how long a worker takes to start (paid once,
and again after a worker is killed for running over its budget).

It prints a table and exits 0: a report, not a test.

    python scripts/bench/cel_conditions.py [--rounds 2000] [--fanout 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import cel

from stepline import payloads
from stepline.v1 import payload_pb2
from stepline_runner.engine.conditions import ConditionEvaluator, Expression

SOURCE = "message.value % 2 == 0 && type_name == 'int_box'"


def messages(count: int) -> list[payload_pb2.Message]:
    return [
        payload_pb2.Message(source_id="a", payload=payloads.encode({"value": n}))
        for n in range(count)
    ]


def in_process(count: int, rounds: int) -> float:
    program = cel.compile(SOURCE)
    sent = messages(count)
    start = time.perf_counter()
    for _ in range(rounds):
        for m in sent:
            value = json.loads(m.payload.data)
            program.execute({"message": value, "type_name": m.payload.type_name})
    return (time.perf_counter() - start) / rounds


async def worker(count: int, rounds: int) -> tuple[float, float]:
    evaluator = ConditionEvaluator(budget=1.0)
    expression = Expression(SOURCE, "edges[0] (direct)")
    sent = messages(count)
    queries = [(i, expression) for i in range(count)]
    started = time.perf_counter()
    await evaluator.verdicts(queries, sent)  # starts the worker
    start_up = time.perf_counter() - started
    samples = []
    for _ in range(rounds):
        t = time.perf_counter()
        await evaluator.verdicts(queries, sent)
        samples.append(time.perf_counter() - t)
    await evaluator.close()
    return start_up, statistics.median(samples)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--fanout", type=int, default=100)
    args = parser.parse_args()
    print(f"{'messages per superstep':>24} {'in process':>12} {'worker':>12} {'start-up':>10}")
    for count in (1, args.fanout):
        local = in_process(count, args.rounds)
        start_up, remote = await worker(count, args.rounds // max(1, count // 10))
        print(
            f"{count:>24} {local * 1e6:>10.0f}us {remote * 1e6:>10.0f}us {start_up * 1e3:>8.0f}ms"
        )


if __name__ == "__main__":
    asyncio.run(main())
