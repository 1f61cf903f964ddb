"""Session round trips: what an Execute on the stream costs over the bare one.

The loop executor (`loop_executor.py`) serves in a process of its own; this
process calls it as the runner does, the calls of each iteration interleaved
so that the machine's load hits each alike:

- `bare`: a write and a read on an open Session stream, an Execute of a type
  the service does not host (answered NOT_FOUND at once): the true floor's
  round trip (`floor_probe.py`);
- `session bare`: the same request through the runner's `GrpcExecutors`
  (its `ExecuteSession`): what the runner's side of the stream adds;
- `raw loop`: a write and a read on an open stream, the loop's real Execute
  (one `Tick`, the state returned with the reply): what the executor's
  handler, state and reply add;
- `session loop`: that Execute through `GrpcExecutors`, as the engine makes it.

Then each kind alone, for the CPU time this process and the service spend
on a call. With `--base-src DIR` a second service runs the checkout in DIR
(its `sdk` on PYTHONPATH) and every kind is made against both, interleaved
(`base ...` rows); the runner's side is this checkout's for both. With
`--pinned` this process runs on one CPU and the services on another (as
superstep.py's pinned variants).

    python scripts/bench/session_rtt.py [--iterations 3000] [--repeats 3] [--pinned]
        [--base-src DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from benchlib import (
    checkout_env,
    cpu_seconds,
    loop_tick,
    median,
    on_cpu,
    parser,
    run_benchmark,
    spread,
    start_executors,
    two_cpus,
    workdir,
)

from stepline.v1 import executor_pb2, payload_pb2
from stepline_runner.api.executor_client import GrpcExecutors
from stepline_runner.engine.ports import ExecutorCallError

Call = Callable[[int], Awaitable[None]]
Samples = dict[str, list[float]]
KINDS = ("bare", "session bare", "raw loop", "session loop")


def nothing(call_id: int = 0) -> executor_pb2.SessionRequest:
    execute = executor_pb2.ExecuteRequest(run_id="rtt", executor_type="rtt-none")
    return executor_pb2.SessionRequest(call_id=call_id, execute=execute)


def loop_request(run_id: str, step: int, known: str) -> executor_pb2.ExecuteRequest:
    message = payload_pb2.Message(source_id="loop", payload=loop_tick(step, 10**9))
    return executor_pb2.ExecuteRequest(
        run_id=run_id,
        executor_id="loop",
        executor_type="loop",
        superstep=step,
        messages=[message],
        epoch=1,
        return_state=True,
        known_state_hash=known,
    )


class Target:
    """One executor service and the four kinds of call to it."""

    def __init__(self, executors: GrpcExecutors, endpoint: str, pid: int) -> None:
        self.executors, self.endpoint, self.pid = executors, endpoint, pid
        # The raw stream on the runner's own channel to the service.
        self.raw = executors._stub(endpoint).Session()  # type: ignore[call-arg]
        self.bare_request = nothing()
        self.known = {"raw": "", "session": ""}

    def calls(self) -> dict[str, Call]:
        return {
            "bare": self.bare,
            "session bare": self.session_bare,
            "raw loop": self.raw_loop,
            "session loop": self.session_loop,
        }

    async def bare(self, i: int) -> None:
        self.bare_request.call_id = i
        await self.raw.write(self.bare_request)
        await self.raw.read()

    async def session_bare(self, i: int) -> None:
        with contextlib.suppress(ExecutorCallError):
            execute = self.bare_request.execute
            await self.executors.execute(self.endpoint, execute, None, session=True)

    async def raw_loop(self, i: int) -> None:
        execute = loop_request("raw", i, self.known["raw"])
        await self.raw.write(executor_pb2.SessionRequest(call_id=i, execute=execute))
        reply = await self.raw.read()
        assert isinstance(reply, executor_pb2.SessionReply)
        self.known["raw"] = _hash(reply.execute)

    async def session_loop(self, i: int) -> None:
        request = loop_request("session", i, self.known["session"])
        response = await self.executors.execute(self.endpoint, request, None, session=True)
        self.known["session"] = _hash(response)


def _hash(response: executor_pb2.ExecuteResponse) -> str:
    # Not the runner's hash: any string that changes with the state will do,
    # since the loop's state changes every step.
    return str(response.checkpoint.state.data[:32])


async def one_repeat(
    iterations: int, warmup: int, gap: float, pinned: bool, base_src: Path | None
) -> Samples:
    runner_cpu, executor_cpu = two_cpus() if pinned else (None, None)
    builds = {"": None, "base ": base_src} if base_src is not None else {"": None}
    samples: Samples = {}
    # This process's threads (gRPC's made later too) on the runner's CPU.
    with workdir() as tmp, on_cpu(runner_cpu):
        executors = GrpcExecutors()
        targets: dict[str, Target] = {}
        async with contextlib.AsyncExitStack() as services:
            for prefix, src in builds.items():
                env = checkout_env(src) if src is not None else None
                with on_cpu(executor_cpu):
                    service = await start_executors(
                        "loop_executor.py", tmp, f"executor{prefix.strip()}", env=env
                    )
                executor = await services.enter_async_context(service)
                targets[prefix] = Target(executors, executor.address, executor.process.pid)
            try:
                await measure(targets, iterations, warmup, gap, samples)
            finally:
                for target in targets.values():
                    target.raw.cancel()
                await executors.close()
    return samples


async def measure(
    targets: dict[str, Target], iterations: int, warmup: int, gap: float, samples: Samples
) -> None:
    calls = {
        f"{prefix}{kind}": call
        for prefix, target in targets.items()
        for kind, call in target.calls().items()
    }
    for name in calls:
        samples[name] = []
    for i in range(1, warmup + iterations + 1):
        for name, call in calls.items():
            t0 = time.perf_counter()
            await call(i)
            t1 = time.perf_counter()
            if i > warmup:
                samples[name].append(t1 - t0)
            while time.perf_counter() - t1 < gap:
                pass  # busy, as a runner between calls: the service ends its call meanwhile
    # Then each kind alone, for the CPU time either process spends on a call.
    start = warmup + iterations + 1
    for prefix, target in targets.items():
        for kind, call in target.calls().items():
            ours, theirs = time.process_time(), cpu_seconds(target.pid)
            for i in range(start, start + iterations):
                await call(i)
            start += iterations
            samples[f"{prefix}{kind} cpu"] = [(time.process_time() - ours) / iterations]
            samples[f"{prefix}{kind} service cpu"] = [
                (cpu_seconds(target.pid) - theirs) / iterations
            ]


async def main_async(args: argparse.Namespace) -> None:
    repeats: list[Samples] = []
    prefixes = ("", "base ") if args.base_src is not None else ("",)
    names = [f"{p}{kind}" for p in prefixes for kind in KINDS]
    for i in range(1, args.repeats + 1):
        repeats.append(
            await one_repeat(
                args.iterations, args.warmup, args.gap_us / 1e6, args.pinned, args.base_src
            )
        )
        figures = ", ".join(f"{n} {median(repeats[-1][n]) * 1e6:.0f}" for n in names)
        print(f"repeat {i}/{args.repeats}: {figures} (us)", flush=True)
    print()
    how = "pinned" if args.pinned else "unpinned"
    print(f"session round trips, {args.iterations} per repeat, {how}; medians in us")
    print(f"{'call':<19} {'median':>7} {'cpu':>6} {'service':>7}  spread over repeats")
    for name in names:
        medians = [median(r[name]) for r in repeats]
        ours = median(r[f"{name} cpu"][0] for r in repeats) * 1e6
        theirs = median(r[f"{name} service cpu"][0] for r in repeats) * 1e6
        print(
            f"{name:<19} {median(medians) * 1e6:>7.1f} {ours:>6.1f} {theirs:>7.1f}"
            f"  {spread(medians, 1e6, 'us')}"
        )
    print("(cpu, service: CPU time per call of this process and of the service, each kind alone)")
    for prefix in prefixes:
        print()

        def over(kind: str, than: str = "bare", prefix: str = prefix) -> float:
            return median(median(r[prefix + kind]) - median(r[prefix + than]) for r in repeats)

        print(f"{prefix}session loop - bare: {over('session loop') * 1e6:.1f} us")
        print(f"{prefix}session bare - bare: {over('session bare') * 1e6:.1f} us (runner side)")
        print(f"{prefix}raw loop - bare:     {over('raw loop') * 1e6:.1f} us (executor side)")


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--iterations", type=int, default=3000)
    options.add_argument("--warmup", type=int, default=200)
    options.add_argument("--repeats", type=int, default=3)
    options.add_argument("--pinned", action="store_true", help="this process, services apart")
    options.add_argument(
        "--gap-us", type=float, default=300, help="busy time between calls (default: 300)"
    )
    options.add_argument("--base-src", type=Path, help="a second service on that checkout")
    run_benchmark(main_async(options.parse_args()))


if __name__ == "__main__":
    main()
