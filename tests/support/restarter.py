"""Run a command, and run it again each time this process gets SIGHUP: a
service that `kill -HUP PID` restarts (the conformance suite's
--restart-command). SIGTERM ends the command and this process."""

from __future__ import annotations

import signal
import subprocess
import sys
from types import FrameType


def main(command: list[str]) -> int:
    child = subprocess.Popen(command)
    asked = {"restart": False, "stop": False}

    def ask(what: str) -> signal.Handlers | None:
        def handle(signum: int, frame: FrameType | None) -> None:
            # Only flag and signal here: waiting in a handler that interrupted
            # `child.wait()` would deadlock on its lock.
            asked[what] = True
            child.terminate()

        signal.signal(signal.SIGHUP if what == "restart" else signal.SIGTERM, handle)
        return None

    ask("restart")
    ask("stop")
    while True:
        code = child.wait()
        if asked["stop"]:
            return 0
        if not asked["restart"]:
            return code
        asked["restart"] = False
        child = subprocess.Popen(command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
