"""A client process for the tracing test: runs the `hop` workflow (a in the
first executor service, b in the second) inside a span of its own, with
tracing set up from OTEL_* like any application, and prints the run id.

    python -m tests.support.traced_client RUNNER FIRST SECOND HOPS
"""

from __future__ import annotations

import asyncio
import json
import sys

from opentelemetry import trace

from stepline import RunnerClient
from stepline.telemetry import configure_tracing
from tests.executors.observed import Hop, hop_pair


async def main(runner: str, first: str, second: str, hops: int) -> None:
    definition = hop_pair("traced", first, second)
    async with RunnerClient(runner) as client:
        await client.register_workflow(definition)
        with trace.get_tracer("tests.client").start_as_current_span("client run") as span:
            result = await client.run("traced", Hop(0, hops))
            trace_id = f"{span.get_span_context().trace_id:032x}"
    print(json.dumps({"run_id": result.run.run_id, "trace_id": trace_id}), flush=True)


if __name__ == "__main__":
    provider = configure_tracing("stepline-client")
    assert provider is not None, "set OTEL_TRACES_EXPORTER"
    try:
        asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
    finally:
        provider.shutdown()
