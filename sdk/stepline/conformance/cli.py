"""`stepline-conformance HOST:PORT`: run the suite, print each check, exit 0 only if all pass."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

import grpc

from stepline.conformance.checks import CHECKS
from stepline.conformance.paired import differential_check, restart_check
from stepline.conformance.reference_checks import REFERENCE_CHECKS
from stepline.conformance.suite import (
    DEFAULT_MESSAGE_TYPE,
    CheckResult,
    SetupError,
    connect,
)
from stepline.credentials import CredentialsError, read_channel_credentials

EPILOG = """\
The executor type under test must handle every --message (a JSON payload of
--message-type) without error, in any state, and its state and results must
depend only on the messages it received, in order, and its executor id. Give
two or more distinct messages so that their order shows. The defaults suit the
`stage` executors of the Stepline repository. The service must also host the
`reference` type (README: "The reference executor") unless --no-reference.
Exit status: 0 when every check
passed, 1 when one failed, 2 when the suite could not start.
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="stepline-conformance",
        description="Check that an executor service honours Stepline's ExecutorService contract.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("address", metavar="HOST:PORT", help="the executor service")
    parser.add_argument(
        "--type",
        dest="executor_type",
        help="executor type to test (default: the first whose input_types take --message-type)",
    )
    parser.add_argument(
        "--message-type",
        default=DEFAULT_MESSAGE_TYPE,
        help=f"type name of the messages sent (default: {DEFAULT_MESSAGE_TYPE})",
    )
    parser.add_argument(
        "--message",
        dest="messages",
        action="append",
        metavar="JSON",
        help="a message to send; repeat for several (default: three distinct Tokens)",
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="deadline of each call, in seconds"
    )
    parser.add_argument(
        "--no-reference",
        action="store_true",
        help="skip the checks of the 'reference' executor type (README: The reference executor)",
    )
    parser.add_argument(
        "--differential",
        metavar="HOST:PORT",
        help="a reference service of the same types (the original of a port): compare "
        "sent messages, outputs and state bytes with it",
    )
    parser.add_argument(
        "--restart-command",
        metavar="SHELL",
        help="a command that restarts the service at the same address; checks last that "
        "the restart changes the incarnation id",
    )
    parser.add_argument(
        "--ca",
        metavar="FILE",
        help="call over TLS, trusting the PEM CA certificates in FILE (the service's and "
        "--differential's)",
    )
    parser.add_argument("--cert", metavar="FILE", help="with --ca: a PEM client certificate")
    parser.add_argument("--key", metavar="FILE", help="the private key of --cert")
    parser.add_argument(
        "--token-file", metavar="FILE", help="with --ca: send the token in FILE on every call"
    )
    args = parser.parse_args(argv)
    try:
        args.credentials = _credentials(args)
        failed = asyncio.run(_run(args))
    except (SetupError, CredentialsError) as exc:
        print(f"stepline-conformance: {exc}", file=sys.stderr)
        return 2
    return 1 if failed else 0


async def _run(args: argparse.Namespace) -> int:
    suite = await connect(
        args.address,
        executor_type=args.executor_type,
        message_type=args.message_type,
        messages=args.messages,
        timeout=args.timeout,
        credentials=args.credentials,
    )
    reference = None
    try:
        if args.differential:
            reference = await connect(
                args.differential,
                executor_type=suite.target.executor_type,
                message_type=args.message_type,
                messages=args.messages,
                timeout=args.timeout,
                credentials=args.credentials,
            )
        target = suite.target
        print(
            f"stepline-conformance: {target.address} ({suite.sdk or 'sdk not given'}), "
            f"executor type {target.executor_type!r}, {len(target.messages)} message(s) "
            f"of type {args.message_type!r}",
            flush=True,
        )
        checks = [*CHECKS, *(() if args.no_reference else REFERENCE_CHECKS)]
        if reference is not None:
            checks.append(differential_check(reference.probe))
        if args.restart_command:
            checks.append(restart_check(args.restart_command))
        results = await suite.run(checks, on_result=_print)
    finally:
        await suite.close()
        if reference is not None:
            await reference.close()
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed", flush=True)
    return failed


def _credentials(args: argparse.Namespace) -> grpc.ChannelCredentials | None:
    return read_channel_credentials(args.ca, args.cert, args.key, args.token_file)


def _print(result: CheckResult) -> None:
    verdict = "PASS" if result.passed else "FAIL"
    print(f"{verdict} {result.name}: {result.title}\n     {result.detail}", flush=True)
