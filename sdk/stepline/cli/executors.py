"""`stepline executor ...`: executor services: describe, check conformance."""

from __future__ import annotations

import typer

app = typer.Typer(help="Executor services: describe, check conformance.", no_args_is_help=True)
