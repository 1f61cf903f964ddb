"""`stepline checkpoint ...`: checkpoints of runs: list, inspect, compare, delete."""

from __future__ import annotations

import typer

app = typer.Typer(help="Checkpoints of runs: list, inspect, compare, delete.", no_args_is_help=True)
