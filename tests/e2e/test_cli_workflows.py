"""`stepline workflow ...` against a real runner and real executor services:
apply, list, get (the file back), graph; files the command refuses, with the
place of the fault; unknown workflows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import pytest_asyncio

from examples.demo import DOCUMENT
from stepline import workflow_file as wf
from stepline.v1 import events_pb2 as E
from tests.executors.shapes import Job
from tests.support.cli import stepline
from tests.support.cluster import Cluster, cluster_fixture
from tests.support.processes import ROOT

pytestmark = pytest.mark.asyncio(loop_scope="module")

EXAMPLES = ROOT / "examples"


cluster = cluster_fixture(
    "examples/demo_executors.py text", "examples/demo_executors.py count", "shapes", scope="module"
)


class Setup:
    def __init__(self, cluster: Cluster) -> None:
        self.tmp, self.client = cluster.tmp, cluster.client()
        self.address = cluster.runner.address
        text, count, shapes = cluster.addresses
        self.endpoints = {
            "127.0.0.1:50061": text,
            "127.0.0.1:50062": count,
            "127.0.0.1:50071": shapes,
            "127.0.0.1:50072": shapes,
        }

    def example(self, name: str) -> Path:
        """The example file with its endpoints put where the services listen."""
        text = (EXAMPLES / name).read_text()
        for placeholder, address in self.endpoints.items():
            text = text.replace(placeholder, address)
        return self.write(name, text)

    def write(self, name: str, text: str) -> Path:
        path = self.tmp / name
        path.write_text(text)
        return path


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def setup(cluster: Cluster) -> Setup:
    return Setup(cluster)


async def test_apply_list_and_get_give_the_file_back(setup: Setup) -> None:
    path = setup.example("word-count.yaml")
    applied = await stepline("workflow", "apply", str(path), address=setup.address)
    assert applied.code == 0, applied.stderr
    _, signature = await setup.client.get_workflow("word-count")
    (version,) = [
        w.version async for w in setup.client.list_workflows() if w.workflow_id == "word-count"
    ]
    assert (
        applied.stdout == f"registered word-count version {version} (graph signature {signature})\n"
    )

    listed = await stepline("workflow", "list", address=setup.address)
    assert listed.code == 0, listed.stderr
    header, *rows = listed.stdout.strip().splitlines()
    assert header.split() == [
        "WORKFLOW",
        "VERSION",
        "START",
        "EXECUTORS",
        "EDGES",
        "UPDATED",
        "SIGNATURE",
    ]
    row = next(r.split() for r in rows if r.startswith("word-count "))
    assert row[:5] == ["word-count", str(version), "reader", "3", "3"]
    assert row[6] == signature[:12]
    as_json = await stepline("workflow", "list", "--json", address=setup.address)
    summary = next(w for w in as_json.json() if w["workflow_id"] == "word-count")
    assert (summary["executor_count"], summary["graph_signature"]) == (3, signature)
    assert summary["version"] == version

    got = await stepline("workflow", "get", "word-count", address=setup.address)
    assert got.code == 0, got.stderr
    assert wf.loads(got.stdout) == wf.load(path)
    body = "".join(line for line in path.open() if not line.startswith("#"))
    assert got.stdout == body  # the example is written as `get` prints it
    got_json = await stepline("workflow", "get", "word-count", "--json", address=setup.address)
    assert got_json.json()["workflow_id"] == "word-count"
    assert wf.loads(got_json.stdout, "got.json") == wf.load(path)

    # The applied file is the demo's workflow: it runs to the demo's result.
    result = await setup.client.run("word-count", DOCUMENT, output_type=dict)
    assert result.run.status == E.RUN_STATUS_COMPLETED
    assert len(result.outputs) == 6


async def test_every_field_and_edge_kind_survive_apply_and_get(setup: Setup) -> None:
    path = setup.example("every-field.yaml")
    applied = await stepline("workflow", "apply", str(path), "--json", address=setup.address)
    assert applied.code == 0, applied.stderr
    assert applied.json()["workflow_id"] == "every-field"
    got = await stepline("workflow", "get", "every-field", address=setup.address)
    assert wf.loads(got.stdout) == wf.load(path)
    result = await setup.client.run("every-field", Job(5), output_type=dict)
    assert result.run.status == E.RUN_STATUS_COMPLETED
    by = sorted(json.dumps(o, sort_keys=True) for o in result.outputs)
    assert by == [
        '{"batch": 1, "results": [["w1", 11], ["w2", 11]]}',
        '{"by": "small", "n": 5}',
    ]


async def test_graph_draws_mermaid_and_dot(setup: Setup) -> None:
    await setup.client.register_workflow(wf.load(setup.example("word-count.yaml")))
    text, count = setup.endpoints["127.0.0.1:50061"], setup.endpoints["127.0.0.1:50062"]
    mermaid = await stepline("workflow", "graph", "word-count", address=setup.address)
    assert mermaid.code == 0, mermaid.stderr
    assert mermaid.stdout == (
        "flowchart LR\n"
        f'  subgraph s0 ["{text}"]\n'
        '    n0["reader"]\n'
        '    n1["tokenizer"]\n'
        "  end\n"
        f'  subgraph s1 ["{count}"]\n'
        '    n2["counter"]\n'
        "  end\n"
        "  start((start)) --> n0\n"
        "  n0 --> n1\n"
        "  n1 --> n2\n"
        "  n2 --> n0\n"
    )
    dot = await stepline("workflow", "graph", "word-count", "-f", "dot", address=setup.address)
    assert dot.code == 0, dot.stderr
    assert dot.stdout == (
        'digraph "word-count" {\n'
        "  rankdir=LR;\n"
        "  node [shape=box];\n"
        "  subgraph cluster_0 {\n"
        f'    label="{text}";\n'
        '    "reader";\n'
        '    "tokenizer";\n'
        "  }\n"
        "  subgraph cluster_1 {\n"
        f'    label="{count}";\n'
        '    "counter";\n'
        "  }\n"
        '  "" [shape=point];\n'
        '  "" -> "reader";\n'
        '  "reader" -> "tokenizer";\n'
        '  "tokenizer" -> "counter";\n'
        '  "counter" -> "reader";\n'
        "}\n"
    )
    unknown = await stepline("workflow", "graph", "word-count", "-f", "png", address=setup.address)
    assert unknown.code == 2


async def test_a_malformed_file_is_refused_with_line_and_column(setup: Setup) -> None:
    text = (EXAMPLES / "word-count.yaml").read_text().replace("workflow_id: word-count", "w: [")
    path = setup.write("malformed.yaml", text.replace("w: [", "workflow_id: malformed\n  x: ["))
    for command in ("validate", "apply"):
        result = await stepline("workflow", command, str(path), address=setup.address)
        assert result.code == 1
        assert result.stdout == ""
        assert result.stderr == f"{path}:9:4: mapping values are not allowed here\n"
    assert (await stepline("workflow", "get", "malformed", address=setup.address)).code == 1


async def test_a_schema_violation_names_the_key_and_its_place(setup: Setup) -> None:
    text = (EXAMPLES / "word-count.yaml").read_text()
    path = setup.write("typo.yaml", text.replace("  endpoint: 127.0.0.1:50062", "  endpont: x"))
    result = await stepline("workflow", "validate", str(path))
    assert result.code == 1
    assert result.stderr.splitlines() == [
        f"{path}:15:3: executors[2]: 'endpoint' is a required property",
        f"{path}:16:3: executors[2]: unknown key 'endpont'; did you mean 'endpoint'?",
    ]
    report = await stepline("workflow", "validate", str(path), "--json")
    assert report.code == 1 and report.stderr == ""
    assert report.json()["valid"] is False
    assert [(p["line"], p["column"]) for p in report.json()["problems"]] == [(15, 3), (16, 3)]


async def test_a_cel_error_names_the_edge(setup: Setup) -> None:
    text = setup.example("word-count.yaml").read_text()
    text = text.replace(
        "    target_id: tokenizer\n", "    target_id: tokenizer\n    condition: message.\n"
    )
    path = setup.write("cel.yaml", text.replace("word-count", "cel-error"))
    for command in ("validate", "apply"):
        result = await stepline("workflow", command, str(path), address=setup.address)
        assert result.code == 1
        (line,) = result.stderr.splitlines()
        assert line.startswith(
            f"{path}:21:16: edge 'reader' -> 'tokenizer': edges[0] (direct): "
            "invalid CEL expression 'message.'"
        )
    assert (await stepline("workflow", "get", "cel-error", address=setup.address)).code == 1


async def test_a_valid_file_and_its_json_report(setup: Setup) -> None:
    path = EXAMPLES / "every-field.yaml"
    result = await stepline("workflow", "validate", str(path))
    assert result.code == 0, result.stderr
    assert result.stdout == f"{path}: workflow 'every-field' is valid (6 executors, 4 edges)\n"
    report = await stepline("workflow", "validate", str(path), "--json")
    assert report.json() == {
        "file": str(path),
        "valid": True,
        "workflow_id": "every-field",
        "problems": [],
    }


async def test_what_only_the_runner_can_check_fails_apply_in_its_place(setup: Setup) -> None:
    text = setup.example("word-count.yaml").read_text()
    hosted = setup.write(
        "types.yaml", text.replace("- id: counter\n", "- id: counter\n  type: nope\n")
    )
    assert (await stepline("workflow", "validate", str(hosted))).code == 0
    result = await stepline("workflow", "apply", str(hosted), address=setup.address)
    assert result.code == 1
    located, status = result.stderr.splitlines()
    assert located.startswith(
        f"{hosted}:15:3: FAILED_PRECONDITION: executor 'counter': the service"
    )
    assert status.startswith("error: FAILED_PRECONDITION [EXECUTOR_TYPE_NOT_HOSTED]: ")

    edge = "- direct:\n    source_id: counter\n    target_id: tokenizer\n"
    mismatch = setup.write("mismatch.yaml", text + edge)
    result = await stepline("workflow", "apply", str(mismatch), address=setup.address)
    assert result.code == 1
    located, status = result.stderr.splitlines()
    line = len(text.splitlines()) + 1
    assert located.startswith(
        f"{mismatch}:{line}:3: edge 'counter' -> 'tokenizer': INVALID_ARGUMENT: edges[3]: "
        "'tokenizer' takes demo.Line but 'counter' sends only demo.Progress"
    )
    assert status.startswith("error: INVALID_ARGUMENT [EDGE_TYPE_MISMATCH]: ")


async def test_an_unknown_workflow_exits_1_with_the_status(setup: Setup) -> None:
    for command in (("get", "no-such-workflow"), ("graph", "no-such-workflow")):
        result = await stepline("workflow", *command, address=setup.address)
        assert result.code == 1
        assert result.stdout == ""
        assert result.stderr.startswith("error: NOT_FOUND")
        assert "no-such-workflow" in result.stderr


async def test_a_missing_file_is_a_usage_error(setup: Setup) -> None:
    result = await stepline("workflow", "validate", str(setup.tmp / "absent.yaml"))
    assert result.code == 2
    assert "does not exist" in result.stderr


async def test_an_alias_bomb_is_refused_before_it_expands(setup: Setup) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(20)
    )
    path = setup.write("bomb.yaml", bomb)
    result = await stepline("workflow", "apply", str(path), address=setup.address)
    assert result.code == 1
    assert result.stderr == f"{path}:2:8: aliases (*name) are not allowed in a workflow file\n"
