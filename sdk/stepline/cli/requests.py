"""`stepline request ...`: requests for input of waiting runs."""

from __future__ import annotations

import typer

app = typer.Typer(help="Requests for input of waiting runs.", no_args_is_help=True)
