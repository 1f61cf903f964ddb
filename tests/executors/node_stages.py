"""Start the Node.js `stage` service (examples/node-executor/stage.js) in place
of this process.

`exec` keeps the process id, so the e2e helpers that start
`tests/executors/<name>.py` (wait for the ready line, SIGKILL) work on the
Node service unchanged. Arguments, STEPLINE_TEST_LOG, STEPLINE_PORT (as --port)
and the STEPLINE_EXECUTOR_* variables pass through, and
OTEL_TRACES_EXPORTER (with examples/node-executor/tracing.js preloaded).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "node-executor"
SERVICE = EXAMPLE / "stage.js"
# Tracing as OTEL_TRACES_EXPORTER says (off unless set).
TRACING = EXAMPLE / "tracing.js"


def exec_node(service: Path) -> None:
    """Become `node service` (with tracing.js preloaded), passing this
    process's arguments and STEPLINE_PORT (as --port) on."""
    node = shutil.which("node")
    if node is None:
        sys.exit("node is not on PATH: the Node executor service needs Node.js 20")
    # STEPLINE_PORT as the Python services take it: a fixed port across restarts.
    port = ["--port", os.environ["STEPLINE_PORT"]] if os.environ.get("STEPLINE_PORT") else []
    os.execv(node, [node, "-r", str(TRACING), str(service), *port, *sys.argv[1:]])


if __name__ == "__main__":
    exec_node(SERVICE)
