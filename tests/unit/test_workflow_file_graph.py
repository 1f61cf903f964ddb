"""Offline graph checks put the runner's verdict on the right line of the
file, and drawings escape whatever the definition says."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepline import WorkflowBuilder
from stepline import workflow_file as wf
from stepline.cli.workflow_check import graph_problems

EVERY_FIELD = (Path(__file__).resolve().parents[2] / "examples" / "every-field.yaml").read_text()

# (what to change in examples/every-field.yaml, where the fault is, how it starts)
FAULTS = {
    "CEL in a switch case": (
        ("condition: message.n > 100", "condition: message.n >"),
        (51, 18),
        "switch-case edge from 'src': edges[2] (switch_case) cases[0]: invalid CEL",
    ),
    "CEL in a fan-out selection": (
        ('selection: "message', 'selection: "(message'),
        (44, 16),
        "fan-out edge from 'src': edges[0] (fan_out): invalid CEL",
    ),
    "CEL in a direct condition": (
        ("type_name.endsWith('Job')", "type_name.endsWith("),
        (57, 16),
        "edge 'src' -> 'big': edges[3] (direct): invalid CEL",
    ),
    "an unknown target": (
        ("target_id: join", "target_id: joint"),
        (45, 3),
        "fan-in edge to 'joint': edges[1] (fan_in): target 'joint' is not a defined executor",
    ),
    "an unknown default target": (
        ("default_target_id: small", "default_target_id: smal"),
        (48, 3),
        "switch-case edge from 'src': edges[2] (switch_case): default target 'smal'",
    ),
    "an unknown start": (
        ("start_executor_id: src", "start_executor_id: nope"),
        (5, 20),
        "start executor 'nope' is not one of the workflow's executors",
    ),
    "a duplicate executor": (("- id: w2", "- id: w1"), (26, 3), "duplicate executor id 'w1'"),
    "a timeout too long": (
        ("execute_timeout: 30s", "execute_timeout: 9999999s"),
        (24, 20),
        "executor 'w1': execute_timeout must be between 0 (none) and",
    ),
    "a policy without its number": (
        ("every_n: 2", "every_n: 0"),
        (11, 3),
        "checkpoint_policy: MODE_EVERY_N_SUPERSTEPS needs every_n of 1 or more",
    ),
}


@pytest.mark.parametrize("change,where,message", FAULTS.values(), ids=FAULTS.keys())
def test_graph_faults_are_placed_on_their_line(
    change: tuple[str, str], where: tuple[int, int], message: str
) -> None:
    text = EVERY_FIELD.replace(*change)
    assert text != EVERY_FIELD
    (problem,) = graph_problems(wf.parse(text, "e.yaml"))
    assert ((problem.line, problem.column), problem.message[: len(message)]) == (where, message)


def test_a_valid_graph_has_no_problems() -> None:
    assert graph_problems(wf.parse(EVERY_FIELD)) == []


def hostile() -> WorkflowBuilder:
    return (
        WorkflowBuilder('w"} x')
        .add_executor('a"]\nb', 'h:1"; evil', type="<b>t</b>")
        .add_executor("b", "h:2")
        .add_edge(
            'a"]\nb', "b", condition='message.s == "#quot;\x1b[2J" && message.n < 2 ' + "x" * 80
        )
        .set_start_executor('a"]\nb')
    )


def test_mermaid_escapes_quotes_markup_and_entities_and_cuts_labels() -> None:
    text = wf.mermaid(hostile().build())
    assert text.splitlines() == [
        "flowchart LR",
        '  subgraph s0 ["h:1#quot;; evil"]',
        '    n0["a#quot;] b (#lt;b#gt;t#lt;/b#gt;)"]',
        "  end",
        '  subgraph s1 ["h:2"]',
        '    n1["b"]',
        "  end",
        "  start((start)) --> n0",
        '  n0 -->|"message.s == #quot;#35;quot;\ufffd[2J#quot; && message.n #lt; 2 '
        + "x" * 16
        + '…"| n1',
    ]


def test_dot_quotes_ids_in_full_and_labels_cut() -> None:
    text = wf.dot(hostile().build())
    assert 'digraph "w\\"} x" {' in text
    assert '    "a\\"]\\nb" [label="a\\"] b (<b>t</b>)"];' in text
    assert '    label="h:1\\"; evil";' in text
    assert '  "" -> "a\\"]\\nb";' in text
    edge = next(line for line in text.splitlines() if "->" in line and "label" in line)
    assert edge.startswith(
        '  "a\\"]\\nb" -> "b" [label="message.s == \\"#quot;\ufffd[2J\\" && message.n < 2'
    )
    assert edge.endswith('…"];') and len(edge) < 120
