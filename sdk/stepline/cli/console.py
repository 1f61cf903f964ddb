"""`stepline console`: serve the web console (the `console` extra) for the
runner the root options name. It listens on loopback unless told otherwise;
beyond loopback it requires its own login token."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer

from .context import connection, usage_error
from .output import error_console


def console(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port to listen on.")
    ] = 7080,
    login_token_file: Annotated[
        Path | None,
        typer.Option(
            "--login-token-file",
            envvar="STEPLINE_CONSOLE_TOKEN_FILE",
            help="File holding the console's own login token (required beyond loopback; "
            "without it one is made up and printed).",
            show_envvar=True,
        ),
    ] = None,
) -> None:
    """Serve the web console: runs, checkpoints, requests, workflows, executors."""
    try:
        import uvicorn

        from stepline.console import create_app
        from stepline.console.app import LOOPBACK_NAMES
        from stepline.console.auth import is_loopback, new_token
    except ImportError as exc:
        usage_error(f"the console needs its extra: pip install 'stepline[console]' ({exc})")
    conn = connection(ctx)
    token = _token(login_token_file)
    if not token and not is_loopback(host):
        token = new_token()
        error_console().print(f"console login token: {token}", markup=False, highlight=False)
    hosts = LOOPBACK_NAMES if is_loopback(host) else ("*",)
    app = create_app(conn.client, login_token=token, allowed_hosts=hosts)
    listening = _bind(host, port)
    bound = listening.getsockname()[1]
    # The socket listens already: a client that reads this line can connect.
    print(f"console listening on {host}:{bound} for the runner at {conn.address}", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    server.run(sockets=[listening])


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, port))
    except OSError as exc:
        listening.close()
        usage_error(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    listening.listen(128)
    return listening


def _token(path: Path | None) -> str:
    if path is None:
        return ""
    try:
        token = path.read_text(errors="replace").strip()
    except OSError as exc:
        usage_error(f"--login-token-file: cannot read {path}: {exc.strerror or exc}")
    if not token:
        usage_error(f"--login-token-file {path} is empty")
    return token
