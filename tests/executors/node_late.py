"""Start the Node.js `slow` service (tests/executors/node_late.js) in place
of this process, as node_stages.py does for the stage service."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

SERVICE = Path(__file__).with_suffix(".js")

if __name__ == "__main__":
    node = shutil.which("node")
    if node is None:
        sys.exit("node is not on PATH: the Node executor service needs Node.js 20")
    port = ["--port", os.environ["STEPLINE_PORT"]] if os.environ.get("STEPLINE_PORT") else []
    os.execv(node, [node, str(SERVICE), *port, *sys.argv[1:]])
