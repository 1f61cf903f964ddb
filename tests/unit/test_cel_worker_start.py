"""A CEL worker says it is ready only once the library is loaded, so that its
first answer's time budget is spent on the expression, not on the import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from stepline_runner.engine.cel_worker import HEADER


def test_the_worker_loads_the_library_before_it_says_ready(tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    # A stand-in `cel` first on the path: importing it leaves the marker.
    (tmp_path / "cel.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    worker = subprocess.Popen(
        [sys.executable, "-m", "stepline_runner.engine.cel_worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert worker.stdout is not None
        (size,) = HEADER.unpack(worker.stdout.read(HEADER.size))
        assert worker.stdout.read(size) == b"[]"  # ready
        assert marker.exists()
    finally:
        worker.kill()
        worker.wait()
