"""The committed protobuf code is what scripts/gen_protos.py makes from protos/."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_generated_code_is_current() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/gen_protos.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_engine_does_not_import_grpc() -> None:
    engine = ROOT / "server" / "stepline_runner" / "engine"
    offenders = [
        p.name
        for p in engine.glob("*.py")
        if any(line.startswith(("import grpc", "from grpc")) for line in p.read_text().splitlines())
    ]
    assert offenders == []
