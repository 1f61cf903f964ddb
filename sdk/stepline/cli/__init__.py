"""`stepline`: the command line of a Stepline runner.

One typer app (`app.py`) with a sub-app per command group, each in its own
module; what they share lives in `context.py` (the connection to the runner,
exit codes) and `output.py` (tables for people, JSON for scripts).
"""

from stepline.cli.app import app, main

__all__ = ["app", "main"]
