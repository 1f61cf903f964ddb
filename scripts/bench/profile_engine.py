"""The engine's own Python per superstep: the loop workflow driven by the real
`RunDriver`, run log and event hub, against an executor port that answers at
once and a store that only numbers the events (and encodes them and the
checkpoint, as a store would): no gRPC, no SQLite, no other process.

    python scripts/bench/profile_engine.py [--steps 2000] [--repeats 7] [--cprofile]

It prints microseconds per superstep (median, min and max over repeats);
`--cprofile` adds cProfile's top functions by cumulative time. The fakes'
own work (a JSON state and message per step) is in the figure, a few
microseconds. Under a machine's load the times move; under
`valgrind --tool=callgrind` the instruction counts do not (run it with two
`--steps` and subtract: the start-up cancels out).
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time
from typing import Any, cast

from benchlib import loop_tick, loop_workflow, median, parser, run_benchmark

from stepline import payloads
from stepline.v1 import events_pb2, executor_pb2, payload_pb2
from stepline_runner.engine.conditions import ConditionEvaluator
from stepline_runner.engine.driver import RunDriver
from stepline_runner.engine.features import ServiceFeatures
from stepline_runner.engine.graph import Graph
from stepline_runner.engine.hub import EventHub
from stepline_runner.engine.ports import ExecutorPort
from stepline_runner.engine.runlog import RunLog
from stepline_runner.engine.state import RunState
from stepline_runner.store import NewCheckpoint, RunUpdate, Store


class LoopPort:
    """`loop_executor.py`'s answers, made here: the next tick (or the output
    at the last step), and the state when asked for it."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    async def describe(
        self, endpoint: str, timeout: float | None = None
    ) -> executor_pb2.DescribeResponse:
        described = executor_pb2.DescribeResponse(incarnation_id="bench")
        described.features.state_with_execute = described.features.session = True
        return described

    async def execute(
        self,
        endpoint: str,
        request: executor_pb2.ExecuteRequest,
        timeout: float | None = None,
        session: bool = False,
    ) -> executor_pb2.ExecuteResponse:
        step = request.superstep
        answer = executor_pb2.ExecuteResponse(incarnation_id="bench")
        if step >= self.steps:
            answer.outputs.append(payloads.encode({"steps": step}))
        else:
            answer.sent.add(payload=loop_tick(step + 1, self.steps))
        if request.return_state:
            answer.checkpoint.state.CopyFrom(payloads.encode({"steps": step}))
        return answer


class NumberingStore:
    """Commits nothing: numbers the events, encoding them and the checkpoint."""

    def __init__(self) -> None:
        self.sequence = 0

    async def commit(
        self,
        run_id: str,
        update: RunUpdate,
        events: list[events_pb2.Event],
        checkpoint: NewCheckpoint | None = None,
        keep_last: int = 0,
    ) -> list[events_pb2.Event]:
        if checkpoint is not None:
            checkpoint.content.SerializeToString()
        for event in events:
            event.SerializeToString()
            self.sequence += 1
            event.run_id, event.sequence = run_id, self.sequence
        return events


async def one_run(steps: int, profiler: cProfile.Profile | None = None) -> float:
    """Seconds per superstep of one run of `steps` supersteps."""
    graph = Graph.compile(loop_workflow("bench-loop", "127.0.0.1:1", steps))
    state = RunState("r" * 32, graph, 0, "c" * 32)
    state.pending = [payload_pb2.Message(target_id="loop", payload=loop_tick(1, steps))]
    port = cast(ExecutorPort, LoopPort(steps))
    store = cast(Store, NumberingStore())
    conditions = ConditionEvaluator(budget=5.0)  # never asked: the loop's edge has none
    driver = RunDriver(
        state,
        store,
        port,
        RunLog(store, EventHub()),
        {},
        conditions=conditions,
        epoch=1,
        features=ServiceFeatures(port),
    )
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    try:
        await driver.run()
    finally:
        if profiler is not None:
            profiler.disable()
        await conditions.close()
    elapsed = time.perf_counter() - started
    if driver.status != events_pb2.RUN_STATUS_COMPLETED:
        raise RuntimeError(f"the run ended {events_pb2.RunStatus.Name(driver.status)}")
    return elapsed / steps


async def profile(steps: int, repeats: int, use_cprofile: bool) -> None:
    await one_run(200)  # warm up
    times = [await one_run(steps) for _ in range(repeats)]
    us = [t * 1e6 for t in times]
    print(
        f"engine Python per superstep ({steps} supersteps, {repeats} runs): "
        f"median {median(us):.1f} us (min {min(us):.1f}, max {max(us):.1f})"
    )
    if use_cprofile:
        profiler = cProfile.Profile()
        await one_run(steps, profiler)
        stats: Any = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("cumulative").print_stats(40)


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--steps", type=int, default=2000)
    options.add_argument("--repeats", type=int, default=7)
    options.add_argument("--cprofile", action="store_true", help="also print cProfile's top 40")
    args = options.parse_args()
    run_benchmark(profile(args.steps, args.repeats, args.cprofile))


if __name__ == "__main__":
    main()
