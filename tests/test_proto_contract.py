"""The contract in protos/ is precise enough to implement from alone: every RPC
says which statuses it returns, and every file names its Go, Java and C#
packages, so generators need no per-file flags."""

from __future__ import annotations

import re
from pathlib import Path

from google.protobuf.descriptor import FileDescriptor

from stepline.v1 import events_pb2, executor_pb2, payload_pb2, runner_pb2, workflow_pb2

ROOT = Path(__file__).resolve().parents[1]
PROTOS = ROOT / "protos" / "stepline" / "v1"
FILES: list[FileDescriptor] = [
    m.DESCRIPTOR for m in (events_pb2, executor_pb2, payload_pb2, runner_pb2, workflow_pb2)
]
STATUS = re.compile(
    r"\b(OK|INVALID_ARGUMENT|NOT_FOUND|ALREADY_EXISTS|FAILED_PRECONDITION|RESOURCE_EXHAUSTED"
    r"|DATA_LOSS|UNAVAILABLE|UNAUTHENTICATED|INTERNAL)\b|Never fails"
)


def rpc_comments(proto: Path) -> dict[str, str]:
    """RPC name -> the comment lines right above it."""
    comments: dict[str, str] = {}
    above: list[str] = []
    for line in proto.read_text().splitlines():
        text = line.strip()
        if text.startswith("//"):
            above.append(text.removeprefix("//").strip())
        elif match := re.match(r"rpc (\w+)\(", text):
            comments[match.group(1)] = " ".join(above)
            above = []
        else:
            above = []
    return comments


def test_every_rpc_says_which_statuses_it_returns() -> None:
    for proto in ("runner.proto", "executor.proto"):
        comments = rpc_comments(PROTOS / proto)
        service = (runner_pb2 if proto == "runner.proto" else executor_pb2).DESCRIPTOR
        (declared,) = service.services_by_name.values()
        assert sorted(comments) == sorted(m.name for m in declared.methods)
        silent = [rpc for rpc, text in comments.items() if not STATUS.search(text)]
        assert silent == [], f"{proto}: no statuses for {silent}"


def test_every_file_names_its_go_java_and_csharp_packages() -> None:
    for file in FILES:
        options = file.GetOptions()
        assert options.go_package == "github.com/stepline/stepline/gen/go/stepline/v1;steplinev1"
        assert options.java_package == "dev.stepline.v1"
        assert options.java_multiple_files
        assert options.java_outer_classname == file.name.split("/")[-1][:-6].title() + "Proto"
        assert options.csharp_namespace == "Stepline.V1"
