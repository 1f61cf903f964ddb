"""`stepline executor ...`: executor services: what they host, and whether
they honour the ExecutorService contract (the conformance suite)."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import grpc
import typer

from stepline.conformance import CHECKS, CheckResult, SetupError, connect
from stepline.conformance.probe import Probe
from stepline.conformance.suite import DEFAULT_MESSAGE_TYPE
from stepline.credentials import CredentialsError, read_channel_credentials
from stepline.errors import from_rpc_error
from stepline.v1 import executor_pb2, executor_pb2_grpc

from . import output
from .context import ExitCode, fail, usage_error
from .output import Column, JsonOption

app = typer.Typer(help="Executor services: describe, check conformance.", no_args_is_help=True)

EndpointArg = Annotated[str, typer.Argument(help="The executor service, HOST:PORT.")]
TimeoutOption = Annotated[
    float, typer.Option("--timeout", min=0.001, help="Deadline of each call, in seconds.")
]

CaOption = Annotated[
    Path | None,
    typer.Option("--ca", help="Call over TLS, trusting the PEM CA certificates in this file."),
]
CertOption = Annotated[
    Path | None, typer.Option("--cert", help="With --ca: a PEM client certificate to present.")
]
KeyOption = Annotated[Path | None, typer.Option("--key", help="The private key of --cert.")]
TokenFileOption = Annotated[
    Path | None,
    typer.Option("--token-file", help="With --ca: send the token in this file on every call."),
]


def _credentials(
    ca: Path | None, cert: Path | None, key: Path | None, token_file: Path | None
) -> grpc.ChannelCredentials | None:
    try:
        return read_channel_credentials(ca, cert, key, token_file)
    except CredentialsError as exc:
        usage_error(str(exc))


TYPE_COLUMNS = [
    Column("TYPE", lambda t: t.name),
    Column("ACCEPTS", lambda t: ", ".join(t.input_types) or "-"),
    Column("SENDS", lambda t: ", ".join(t.output_types) or "-"),
    Column("YIELDS", lambda t: ", ".join(t.yield_types) or "-"),
    Column("RESPONSES", lambda t: ", ".join(t.response_types) or "-"),
]


async def describe_service(
    endpoint: str, timeout: float, credentials: grpc.ChannelCredentials | None = None
) -> executor_pb2.DescribeResponse:
    async with Probe.channel(endpoint, credentials) as channel:
        stub = executor_pb2_grpc.ExecutorServiceStub(channel)
        response: executor_pb2.DescribeResponse = await stub.Describe(
            executor_pb2.DescribeRequest(), timeout=timeout
        )
        return response


@app.command("describe")
def describe(
    endpoint: EndpointArg,
    timeout: TimeoutOption = 10.0,
    as_json: JsonOption = False,
    ca: CaOption = None,
    cert: CertOption = None,
    key: KeyOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """The executor types a service hosts, with the types they take, send and yield."""
    credentials = _credentials(ca, cert, key, token_file)
    try:
        described = asyncio.run(describe_service(endpoint, timeout, credentials))
    except grpc.aio.AioRpcError as exc:
        fail(from_rpc_error(exc))
    if as_json:
        output.print_json(output.message_json(described))
        return
    output.print_fields(
        [
            ("service", endpoint),
            ("sdk", described.sdk or "-"),
            ("incarnation", described.incarnation_id),
        ]
    )
    output.print_text("")
    output.print_table(described.executor_types, TYPE_COLUMNS)


@app.command("check")
def check(
    endpoint: EndpointArg,
    executor_type: Annotated[
        str, typer.Option("--type", help="The executor type to test (default: the first fit).")
    ] = "",
    message_type: Annotated[
        str, typer.Option("--message-type", help="Type name of the messages sent.")
    ] = DEFAULT_MESSAGE_TYPE,
    messages: Annotated[
        list[str] | None,
        typer.Option("--message", help="A JSON message to send (repeatable)."),
    ] = None,
    timeout: TimeoutOption = 10.0,
    as_json: JsonOption = False,
    ca: CaOption = None,
    cert: CertOption = None,
    key: KeyOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """Run the conformance suite against a service; exit 1 if a check fails."""
    credentials = _credentials(ca, cert, key, token_file)

    def show(result: CheckResult) -> None:
        if as_json:
            output.print_json_line(asdict(result))
        else:
            verdict = "PASS" if result.passed else "FAIL"
            output.print_text(
                f"{verdict} {result.name}: {result.title}", "green" if result.passed else "red"
            )
            output.print_text(f"     {result.detail}")

    async def go() -> list[CheckResult]:
        suite = await connect(
            endpoint,
            executor_type=executor_type or None,
            message_type=message_type,
            messages=messages,
            timeout=timeout,
            credentials=credentials,
        )
        try:
            return await suite.run(CHECKS, on_result=show)
        finally:
            await suite.close()

    try:
        results = asyncio.run(go())
    except SetupError as exc:
        output.error_console().print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(ExitCode.FAILED) from None
    failed = sum(not r.passed for r in results)
    if not as_json:
        output.print_text(f"{len(results) - failed} passed, {failed} failed")
    raise typer.Exit(ExitCode.FAILED if failed else ExitCode.OK)
