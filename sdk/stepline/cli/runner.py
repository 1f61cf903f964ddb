"""`stepline runner serve`: the runner itself, the same as `stepline-runner`."""

from __future__ import annotations

import typer

app = typer.Typer(help="Serve a runner.", no_args_is_help=True)


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def serve(ctx: typer.Context) -> None:
    """Serve a runner until SIGTERM or SIGINT (`serve --help`: its options)."""
    # Imported here: the other commands need not load the runner.
    from stepline_runner.cli import main as runner_main

    runner_main(list(ctx.args), prog="stepline runner serve")
