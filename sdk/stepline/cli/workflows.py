"""`stepline workflow ...`: workflow files and registered workflows.

`validate` and `apply` check a file before anything else: its YAML, the
schema, then the runner's own graph rules and CEL compilation, each fault as
FILE:LINE:COLUMN: message on stderr (exit 1). `get` prints the file form back.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from stepline import workflow_file
from stepline.client import Registration, RunnerClient, WorkflowSummary
from stepline.errors import SteplineError
from stepline.workflow_file import Problem, WorkflowFile, WorkflowFileError

from . import output
from .context import ExitCode, call
from .output import Column, JsonOption
from .workflow_check import graph_problems, runner_problem

app = typer.Typer(help="Workflow files and registered workflows.", no_args_is_help=True)

FileArg = Annotated[
    Path,
    typer.Argument(
        help="A workflow file, YAML or JSON.",
        metavar="FILE",
        exists=True,
        dir_okay=False,
        show_default=False,
    ),
]
WorkflowArg = Annotated[str, typer.Argument(help="The workflow's id.", show_default=False)]


class GraphFormat(StrEnum):
    MERMAID = "mermaid"
    DOT = "dot"


def checked(path: Path) -> tuple[WorkflowFile | None, list[Problem]]:
    """The file and its problems: the YAML and schema's, else the graph's."""
    try:
        file = workflow_file.read(path)
    except WorkflowFileError as exc:
        return None, list(exc.problems)
    return file, graph_problems(file)


def refuse(path: Path, problems: list[Problem], as_json: bool) -> NoReturn:
    """Report a file's problems and exit 1."""
    if as_json:
        output.print_json(_report(path, None, problems))
    for problem in problems if not as_json else ():
        # Unwrapped, one a line: editors and scripts read FILE:LINE:COLUMN.
        typer.echo(str(problem), err=True)
    raise typer.Exit(ExitCode.FAILED)


def _report(path: Path, file: WorkflowFile | None, problems: list[Problem]) -> dict[str, Any]:
    report: dict[str, Any] = {"file": str(path), "valid": not problems}
    if file is not None and not problems:
        report["workflow_id"] = file.definition.workflow_id
    report["problems"] = [
        {"line": p.line, "column": p.column, "message": p.message} for p in problems
    ]
    return report


@app.command("validate")
def validate(path: FileArg, as_json: JsonOption = False) -> None:
    """Check a workflow file offline: YAML, schema, graph rules, CEL expressions.

    Types and endpoints are checked only by `apply` (the runner asks the executors)."""
    file, problems = checked(path)
    if problems or file is None:
        refuse(path, problems, as_json)
    if as_json:
        output.print_json(_report(path, file, []))
        return
    definition = file.definition
    output.print_text(
        f"{path}: workflow {definition.workflow_id!r} is valid "
        f"({len(definition.executors)} executors, {len(definition.edges)} edges)"
    )


@app.command("apply")
def apply(ctx: typer.Context, path: FileArg, as_json: JsonOption = False) -> None:
    """Check a workflow file, then register it as the next version of its id."""
    file, problems = checked(path)
    if problems or file is None:
        refuse(path, problems, as_json)
    definition = file.definition

    async def register(client: RunnerClient) -> Registration:
        try:
            return await client.register_workflow(definition)
        except SteplineError as exc:
            problem = runner_problem(file, exc)
            if problem is not None and not as_json:
                typer.echo(str(problem), err=True)
            raise  # and `call` says the status

    registered = call(ctx, register)
    signature, version = registered.graph_signature, registered.version
    if as_json:
        output.print_json(
            {
                "workflow_id": definition.workflow_id,
                "graph_signature": signature,
                "version": version,
            }
        )
    else:
        output.print_text(
            f"registered {definition.workflow_id} version {version} (graph signature {signature})"
        )


WORKFLOW_COLUMNS = [
    Column("WORKFLOW", lambda w: w.workflow_id),
    Column("VERSION", lambda w: str(w.version)),
    Column("START", lambda w: w.start_executor_id),
    Column("EXECUTORS", lambda w: str(w.executor_count)),
    Column("EDGES", lambda w: str(w.edge_count)),
    Column("UPDATED", lambda w: output.timestamp_text(w.updated_at)),
    Column("SIGNATURE", lambda w: w.graph_signature[:12]),
]


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the registered workflows, oldest registration first."""

    async def workflows(client: RunnerClient) -> list[WorkflowSummary]:
        return [summary async for summary in client.list_workflows()]

    found = call(ctx, workflows)
    output.print_records(found, WORKFLOW_COLUMNS, as_json)


@app.command("get")
def get(ctx: typer.Context, workflow_id: WorkflowArg, as_json: JsonOption = False) -> None:
    """Print a registered workflow as a workflow file (YAML; JSON with --json)."""
    definition, _ = call(ctx, lambda c: c.get_workflow(workflow_id))
    text = workflow_file.dump(definition, "json" if as_json else "yaml")
    typer.echo(text, nl=False)


@app.command("graph")
def graph(
    ctx: typer.Context,
    workflow_id: WorkflowArg,
    format: Annotated[
        GraphFormat, typer.Option("--format", "-f", help="Mermaid flowchart or Graphviz DOT.")
    ] = GraphFormat.MERMAID,
) -> None:
    """Draw a registered workflow: `... graph ID -f dot | dot -Tsvg > graph.svg`."""
    definition, _ = call(ctx, lambda c: c.get_workflow(workflow_id))
    render = workflow_file.mermaid if format is GraphFormat.MERMAID else workflow_file.dot
    typer.echo(render(definition), nl=False)
