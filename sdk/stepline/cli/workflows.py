"""`stepline workflow ...`: workflow files and registered workflows."""

from __future__ import annotations

import typer

app = typer.Typer(help="Workflow files and registered workflows.", no_args_is_help=True)
