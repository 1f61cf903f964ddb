"""What every command shares: the connection to the runner, and running an
async operation under the command's exit codes.

Exit codes: 0 the operation succeeded, 1 it failed (the runner's gRPC status
and message go to stderr), 2 the command line was wrong (typer's own usage
errors, and values such as malformed JSON that a command rejects itself).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import NoReturn, TypeVar

import typer

from stepline._channel import check_address
from stepline.client import RunnerClient
from stepline.errors import SteplineError

from .output import error_console

T = TypeVar("T")

DEFAULT_ADDRESS = "127.0.0.1:7070"
# Token and CA files: a CA bundle of every public root is ~250 KB.
MAX_FILE_BYTES = 4 * 1024 * 1024
TOKEN = re.compile(r"[!-~]+")


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2


@dataclass(frozen=True)
class Connection:
    """Where the runner is and how to reach it (the root command's options)."""

    address: str = DEFAULT_ADDRESS
    token_file: Path | None = None
    ca_file: Path | None = None
    namespace: str = ""
    cert_file: Path | None = None
    key_file: Path | None = None

    def client(self) -> RunnerClient:
        """A client of the runner; a token, CA, certificate or key file that
        cannot be read is a usage error."""
        if (self.cert_file is None) != (self.key_file is None):
            usage_error("--cert-file and --key-file go together")
        try:
            check_address(self.address)
        except ValueError as exc:
            usage_error(f"--address: {exc}")
        return RunnerClient(
            self.address,
            root_certificates=self._ca(),
            token=self._token() or None,
            namespace=self.namespace,
            certificate_chain=_read(self.cert_file, "--cert-file") if self.cert_file else None,
            private_key=_read(self.key_file, "--key-file") if self.key_file else None,
        )

    def _token(self) -> str:
        if self.token_file is None:
            return ""
        token = _read(self.token_file, "--token-file").decode(errors="replace").strip()
        if not token:
            usage_error(f"--token-file {self.token_file} is empty")
        if not TOKEN.fullmatch(token):
            # gRPC would refuse it in the metadata of every call, with a traceback.
            usage_error(
                f"--token-file {self.token_file}: a token is one line of printable ASCII "
                "characters, without spaces"
            )
        return token

    def _ca(self) -> bytes | None:
        return None if self.ca_file is None else _read(self.ca_file, "--ca-file")


def _read(path: Path, option: str) -> bytes:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        usage_error(f"{option}: cannot read {path}: {exc.strerror or exc}")
    if len(data) > MAX_FILE_BYTES:
        usage_error(f"{option}: {path} is over {MAX_FILE_BYTES} bytes; is it the right file?")
    return data


def connection(ctx: typer.Context) -> Connection:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Connection) else Connection()


def call(ctx: typer.Context, operation: Callable[[RunnerClient], Awaitable[T]]) -> T:
    """Run `operation` with a client of the runner; a failure exits with 1."""
    conn = connection(ctx)

    async def with_client() -> T:
        async with conn.client() as client:
            return await operation(client)

    try:
        return asyncio.run(with_client())
    except SteplineError as exc:
        fail(exc)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def fail(exc: SteplineError) -> NoReturn:
    """Print the status and message of a failed operation, and exit 1."""
    reason = getattr(exc, "reason", "") or ""
    detail = f" [{reason}]" if reason else ""
    error_console().print(f"error: {exc.code.name}{detail}: {exc}", markup=False, highlight=False)
    raise typer.Exit(ExitCode.FAILED)


def usage_error(message: str) -> NoReturn:
    """Reject the command line (exit 2), as typer does with its own checks."""
    error_console().print(f"usage error: {message}", markup=False, highlight=False)
    raise typer.Exit(ExitCode.USAGE)
