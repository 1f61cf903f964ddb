"""Test seams for Stepline, as httpx ships `MockTransport` and Temporal ships
`temporalio.testing`.

Two ways to test executors and workflows:

- in one process: `InProcessRunner` runs the runner engine on a real SQLite
  file and calls your executors through `InProcessExecutors` (the SDK's
  `ExecutorHost` behind the engine's executor port, errors becoming the
  statuses `run_executors` would send), no gRPC in between; `outputs` and
  `of_kind` pick events apart;
- as real processes: `start_runner` and `start_executor_service` (or `spawn`)
  start services on loopback ports and wait, never sleeping, until each says
  where it listens; a `Service` can be killed (SIGKILL) or stopped, and
  `free_port` gives a port a restarted service can come back on.

The in-process parts import the runner (`stepline_runner`), which ships in the
same distribution.
"""

from ._executors import InProcessExecutors
from ._processes import (
    READY,
    Service,
    SpawnOptions,
    free_port,
    spawn,
    start_executor_service,
    start_runner,
    stop,
    tail,
)
from ._runner import FAST_RETRY, InProcessRunner, of_kind, outputs

__all__ = [
    "FAST_RETRY",
    "READY",
    "InProcessExecutors",
    "InProcessRunner",
    "Service",
    "SpawnOptions",
    "free_port",
    "of_kind",
    "outputs",
    "spawn",
    "start_executor_service",
    "start_runner",
    "stop",
    "tail",
]
