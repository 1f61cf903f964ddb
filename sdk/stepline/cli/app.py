"""The `stepline` command: a sub-app per command group, the connection
options on the root (`stepline --address HOST:PORT run list`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import checkpoints, console, executors, requests, runner, runs, schedules, workflows
from .context import DEFAULT_ADDRESS, Connection

app = typer.Typer(
    name="stepline",
    help="Drive a Stepline runner: workflows, runs, checkpoints, requests for input.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(workflows.app, name="workflow")
app.add_typer(runs.app, name="run")
app.add_typer(checkpoints.app, name="checkpoint")
app.add_typer(requests.app, name="request")
app.add_typer(executors.app, name="executor")
app.add_typer(runner.app, name="runner")
app.add_typer(schedules.app, name="schedule")
app.command("console")(console.console)


@app.callback()
def connect(
    ctx: typer.Context,
    address: Annotated[
        str,
        typer.Option(
            "--address", envvar="STEPLINE_ADDRESS", help="The runner, HOST:PORT.", show_envvar=True
        ),
    ] = DEFAULT_ADDRESS,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            envvar="STEPLINE_TOKEN_FILE",
            help="File holding the runner's bearer token.",
            show_envvar=True,
        ),
    ] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option(
            "--ca-file",
            envvar="STEPLINE_CA_FILE",
            help="PEM certificates to trust: connect over TLS.",
            show_envvar=True,
        ),
    ] = None,
    cert_file: Annotated[
        Path | None,
        typer.Option(
            "--cert-file",
            envvar="STEPLINE_CERT_FILE",
            help="PEM client certificate to present (with --key-file), for a runner that "
            "knows principals by certificate.",
            show_envvar=True,
        ),
    ] = None,
    key_file: Annotated[
        Path | None,
        typer.Option(
            "--key-file",
            envvar="STEPLINE_KEY_FILE",
            help="PEM private key of --cert-file.",
            show_envvar=True,
        ),
    ] = None,
    namespace: Annotated[
        str,
        typer.Option(
            "--namespace",
            envvar="STEPLINE_NAMESPACE",
            help="The namespace of the workflows and runs (default: the runner's 'default').",
            show_envvar=True,
        ),
    ] = "",
) -> None:
    ctx.obj = Connection(address, token_file, ca_file, namespace, cert_file, key_file)


def main() -> None:
    """The console script."""
    app()
