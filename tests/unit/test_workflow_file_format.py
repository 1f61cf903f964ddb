"""Workflow files: every example is valid, files and definitions round-trip,
the schema follows the .proto, and hostile or wrong files are refused with
FILE:LINE:COLUMN: message."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from google.protobuf.descriptor import FieldDescriptor

from examples.demo import word_count_workflow
from stepline import RetryPolicy, WorkflowBuilder
from stepline import workflow_file as wf
from stepline.v1 import workflow_pb2
from stepline_runner.engine.graph import Graph

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml")) + sorted((ROOT / "examples").glob("*.json"))


def test_there_are_examples() -> None:
    assert {p.name for p in EXAMPLES} >= {"word-count.yaml", "every-field.yaml"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_meets_the_schema_and_compiles(path: Path) -> None:
    jsonschema.Draft202012Validator.check_schema(wf.schema())
    document = wf.read(path).document
    jsonschema.validate(document.value, wf.schema(), cls=jsonschema.Draft202012Validator)
    Graph.compile(wf.load(path))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_round_trips_through_yaml_and_json(path: Path) -> None:
    definition = wf.load(path)
    assert wf.loads(wf.dump(definition)) == definition
    json_text = wf.dump(definition, "json")
    assert wf.loads(json_text, "x.json") == definition
    assert json.loads(json_text) == wf.to_dict(definition)


def test_the_demo_file_is_the_demos_builder_definition() -> None:
    path = ROOT / "examples" / "word-count.yaml"
    built = word_count_workflow("127.0.0.1:50061", "127.0.0.1:50062")
    assert wf.load(path) == built
    # The file is what dump writes, below its comments.
    body = "".join(line for line in path.open() if not line.startswith("#"))
    assert body == wf.dump(built)


def test_the_builder_writes_the_file() -> None:
    builder = (
        WorkflowBuilder("orders", max_supersteps=7)
        .add_executor("check", "127.0.0.1:1", type="checker", execute_timeout=timedelta(seconds=3))
        .add_executor("ship", "127.0.0.1:2")
        .add_edge("check", "ship", condition="message.ok")
        .set_start_executor("check")
    )
    text = builder.to_yaml()
    assert text.splitlines()[:3] == [
        "workflow_id: orders",
        "start_executor_id: check",
        "max_supersteps: 7",
    ]
    assert "  execute_timeout: 3s\n" in text
    assert wf.loads(text) == builder.build()


def every_field() -> workflow_pb2.WorkflowDefinition:
    """A definition with every field of every message set to something not default."""
    definition = (
        WorkflowBuilder("all", max_supersteps=9, drop_undeliverable=True, max_concurrent_runs=6)
        .add_executor(
            "a",
            "h:1",
            type="ta",
            execute_timeout=timedelta(milliseconds=1500),
            max_concurrent_executes=2,
        )
        .add_executor("b", "h:2")
        .add_executor("c", "h:3")
        .add_edge("a", "b", condition='message.x == "q\'uote"')
        .add_fan_out("a", ["b", "c"], selection="['b']")
        .add_fan_in(["b", "c"], "a")
        .add_switch("a", [("message.n > 1", "b"), ("true", "c")], "a")
        .set_start_executor("a")
        .build()
    )
    definition.checkpoint_policy.mode = workflow_pb2.CheckpointPolicy.MODE_EVERY_N_SUPERSTEPS
    definition.checkpoint_policy.every_n = 3
    definition.retention.keep_last = 4
    definition.default_retry_policy.CopyFrom(
        RetryPolicy(4, timedelta(seconds=0.5), timedelta(seconds=9), 3, ["A"], ["B"]).to_proto()
    )
    definition.executors[1].retry_policy.max_attempts = 2
    return definition


def test_a_definition_with_every_field_round_trips() -> None:
    definition = every_field()
    assert wf.loads(wf.dump(definition)) == definition
    assert wf.loads(wf.dump(definition, "json")) == definition


def _fields(descriptor: Any, seen: set[str]) -> set[tuple[str, str]]:
    if descriptor.full_name in seen or descriptor.full_name.startswith("google."):
        return set()
    seen.add(descriptor.full_name)
    found = set()
    for field in descriptor.fields:
        found.add((descriptor.name, field.name))
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            found |= _fields(field.message_type, seen)
    return found


def _schema_properties(node: object, found: set[str]) -> set[str]:
    if isinstance(node, dict):
        found |= set(node.get("properties", {}))
        for value in node.values():
            _schema_properties(value, found)
    elif isinstance(node, list):
        for value in node:
            _schema_properties(value, found)
    return found


def test_the_schema_names_every_field_of_the_definition() -> None:
    """A field added to workflow.proto must be added to the schema too."""
    fields = _fields(workflow_pb2.WorkflowDefinition.DESCRIPTOR, set())
    missing = {f"{m}.{f}" for m, f in fields if f not in _schema_properties(wf.schema(), set())}
    assert not missing
    modes = wf.schema()["properties"]["checkpoint_policy"]["properties"]["mode"]["enum"]
    assert modes == list(workflow_pb2.CheckpointPolicy.Mode.keys())


def test_a_json_file_indented_with_tabs_is_read() -> None:
    text = '{\n\t"workflow_id": "w",\n\t"start_executor_id": "a",\n\t"executors": [\n'
    text += '\t\t{"id": "a", "endpoint": "h:1"}\n\t]\n}\n'
    assert wf.loads(text, "w.json").executors[0].endpoint == "h:1"


def problems(text: str | bytes) -> list[str]:
    with pytest.raises(wf.WorkflowFileError) as caught:
        wf.loads(text, "w.yaml")
    return [str(p) for p in caught.value.problems]


VALID = "workflow_id: w\nstart_executor_id: a\nexecutors:\n- id: a\n  endpoint: h:1\n"


def test_syntax_errors_name_line_and_column() -> None:
    assert problems(VALID + "edges: [\n") == [
        "w.yaml:7:1: while parsing a flow node expected the node content, but found '<stream end>'"
    ]
    assert problems("workflow_id: w\n  executors: x\n") == [
        "w.yaml:2:12: mapping values are not allowed here"
    ]


def test_schema_violations_are_placed_where_they_are() -> None:
    text = (
        "workflow_id: w\n"
        "start_executor_id: a\n"
        "max_supersteps: many\n"
        "executors:\n"
        "- id: a\n"
        "  endpont: h:1\n"
        "  execute_timeout: 5m\n"
        "edges:\n"
        "- direct: {source_id: a, target_id: a}\n"
        "  fan_in: {source_ids: [a], target_id: a}\n"
        "checkpoint_policy: {mode: SOMETIMES}\n"
    )
    assert problems(text) == [
        "w.yaml:3:17: max_supersteps: 'many' is not of type 'integer'",
        "w.yaml:5:3: executors[0]: 'endpoint' is a required property",
        "w.yaml:6:3: executors[0]: unknown key 'endpont'; did you mean 'endpoint'?",
        "w.yaml:7:20: executors[0].execute_timeout: '5m' is not a duration in seconds"
        ' like "30s" or "0.5s"',
        "w.yaml:9:3: edges[0]: an edge is exactly one of direct, fan_out, fan_in, switch_case",
        "w.yaml:10:24: edges[0].fan_in.source_ids: needs at least 2 item(s)",
        "w.yaml:11:27: checkpoint_policy.mode: 'SOMETIMES' is not one of ['MODE_UNSPECIFIED',"
        " 'MODE_EVERY_SUPERSTEP', 'MODE_EVERY_N_SUPERSTEPS', 'MODE_ON_PAUSE_OR_FINISH']",
    ]


def test_retry_policies_out_of_bounds_are_problems_of_the_file() -> None:
    text = VALID + (
        "default_retry_policy:\n"
        "  max_attempts: 101\n"
        "  initial_backoff: -1s\n"
        "  backoff_multiplier: 0.5\n"
        f"  never_retry: [{'x' * 300}, 'a b']\n"
    )
    assert [p.split(": ", 1)[1] for p in problems(text)] == [
        "default_retry_policy.max_attempts: 101 is greater than the maximum of 100",
        "default_retry_policy.initial_backoff: '-1s' is not a duration in seconds like "
        '"30s" or "0.5s"',
        "default_retry_policy.backoff_multiplier: 0.5 is not valid under any of the given schemas",
        "default_retry_policy.never_retry[0]: is longer than 256 characters",
        "default_retry_policy.never_retry[1]: 'a b' may hold only printable ASCII characters,"
        " without spaces",
    ]


def test_concurrency_limits_out_of_bounds_are_problems_of_the_file() -> None:
    text = VALID.replace("executors:", "max_concurrent_runs: -1\nexecutors:").replace(
        "endpoint: h:1\n", "endpoint: h:1\n  max_concurrent_executes: 10001\n"
    )
    assert [p.split(": ", 1)[1] for p in problems(text)] == [
        "max_concurrent_runs: -1 is less than the minimum of 0",
        "executors[0].max_concurrent_executes: 10001 is greater than the maximum of 10000",
    ]


def test_ids_are_printable_ascii_without_spaces() -> None:
    assert problems(VALID.replace("- id: a\n", "- id: 'a b'\n")) == [
        "w.yaml:4:7: executors[0].id: 'a b' may hold only printable ASCII characters,"
        " without spaces"
    ]
    assert problems(VALID.replace("endpoint: h:1", "endpoint: ''")) == [
        "w.yaml:5:13: executors[0].endpoint: must not be empty"
    ]


def test_an_unquoted_number_or_date_where_a_string_belongs() -> None:
    assert problems(VALID.replace("- id: a\n", "- id: 7\n")) == [
        "w.yaml:4:7: executors[0].id: 7 is not of type 'string'"
    ]
    assert problems(VALID.replace("w\n", "2026-12-01\n", 1)) == [
        "w.yaml:1:14: !!timestamp values are not allowed; quote it as a string"
    ]


def test_messages_quote_a_bounded_prefix() -> None:
    (message,) = problems(VALID.replace("workflow_id: w", f"workflow_id: [{'x' * 100_000}]"))
    assert message.startswith("w.yaml:1:14: workflow_id: ['xxx")
    assert len(message) < 400


HOSTILE = {
    "alias bomb": (
        'a: &a ["x", "x"]\nb: &b [*a, *a]\nc: [*b, *b]\n',
        "w.yaml:2:8: aliases (*name) are not allowed in a workflow file",
    ),
    "python object": (
        "workflow_id: !!python/object/apply:os.system ['touch {marker}']\n",
        "w.yaml:1:14: !!python/object/apply:os.system is not allowed here",
    ),
    "python name in a scalar": (
        "workflow_id: !!python/name:os.system x\n",
        "w.yaml:1:14: !!python/name:os.system values are not allowed; quote it as a string",
    ),
    "local tag": ("workflow_id: !env HOME\n", "w.yaml:1:14: tag '!env' values are not allowed"),
    "merge key": ("a: {b: 1}\nc:\n  <<: {d: 1}\n", "w.yaml:3:3: keys must be plain strings"),
    "deep nesting": ("a: " + "[" * 100 + "]" * 100, "w.yaml:1:35: nested more than 32 levels"),
    "too many values": ("a: [" + "1," * 60_000 + "]", "w.yaml:1:99999: more than 50000 values"),
    "duplicate key": (VALID + "workflow_id: v\n", "w.yaml:6:1: duplicate key 'workflow_id'"),
    "two documents": (VALID + "---\na: 1\n", "w.yaml:6:1: expected a single document"),
    "control character": ("workflow_id: w\x07\n", "w.yaml:1:15: character #x0007 is not allowed"),
    "empty": ("", "w.yaml:1:1: the file is empty"),
    "a list": ("- 1\n", "w.yaml:1:1: (the document): [1] is not of type 'object'"),
}


@pytest.mark.parametrize("text,expected", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_files_are_refused_before_anything_is_built(
    text: str, expected: str, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    found = problems(text.replace("{marker}", str(marker)))
    assert found[0].startswith(expected)
    assert not marker.exists()


def test_files_are_bounded_in_bytes_and_must_be_utf8(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text(VALID + "# " + "x" * wf.MAX_FILE_BYTES + "\n")
    with pytest.raises(wf.WorkflowFileError, match=r"big.yaml:1:1: the file is over 1048576 bytes"):
        wf.read(big)
    assert problems(b"workflow_id: w\nstart_executor_id: \xff\n") == [
        "w.yaml:2:20: the file is not UTF-8 text"
    ]
    with pytest.raises(wf.WorkflowFileError, match=r"missing.yaml:1:1: No such file"):
        wf.read(tmp_path / "missing.yaml")


# Strings YAML would read as something else unquoted, or that need escapes.
# Ids are printable ASCII without spaces; expressions may hold anything.
TRICKY_IDS = [
    *("yes", "no", "on", "off", "y", "n", "TRUE", "null", "~", ".nan", "-.inf"),
    *("123", "+1", "1e3", "0x1F", "0o17", "1:20", "2026-12-01"),
    *("a:b", "-x", "#c", "*star", "&amp", "!bang", "%pct", "@at", "`bt`", "{b}", "[s]", "<<"),
    *("'q'", '"dq"', "=", "a\\b"),
]
TRICKY = [
    *TRICKY_IDS,
    *("a: b", "- x", " lead", "trail ", "tab\there", "multi\nline", "nul\x00l", "\x07bell"),
    *("ünï", "\u2028x", "\ufeffbom", "\U0001f600"),
]


@pytest.mark.parametrize("text", TRICKY)
def test_any_string_round_trips(text: str) -> None:
    name = text if text in TRICKY_IDS else "x"
    definition = (
        WorkflowBuilder(name)
        .add_executor(name, name, type=name)
        .add_edge(name, name, condition=text)
        .set_start_executor(name)
        .build()
    )
    assert wf.loads(wf.dump(definition)) == definition
    assert wf.loads(wf.dump(definition, "json")) == definition
