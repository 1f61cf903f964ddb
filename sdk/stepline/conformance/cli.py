"""`stepline-conformance HOST:PORT`: run the suite, print each check, exit 0 only if all pass."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from stepline.conformance.checks import CHECKS
from stepline.conformance.suite import (
    DEFAULT_MESSAGE_TYPE,
    CheckResult,
    SetupError,
    connect,
)

EPILOG = """\
The executor type under test must handle every --message (a JSON payload of
--message-type) without error, in any state, and its state and results must
depend only on the messages it received, in order, and its executor id. Give
two or more distinct messages so that their order shows. The defaults suit the
`stage` executors of the Stepline repository. Exit status: 0 when every check
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
    args = parser.parse_args(argv)
    try:
        failed = asyncio.run(_run(args))
    except SetupError as exc:
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
    )
    try:
        target = suite.target
        print(
            f"stepline-conformance: {target.address} ({suite.sdk or 'sdk not given'}), "
            f"executor type {target.executor_type!r}, {len(target.messages)} message(s) "
            f"of type {args.message_type!r}",
            flush=True,
        )
        results = await suite.run(CHECKS, on_result=_print)
    finally:
        await suite.close()
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed", flush=True)
    return failed


def _print(result: CheckResult) -> None:
    verdict = "PASS" if result.passed else "FAIL"
    print(f"{verdict} {result.name}: {result.title}\n     {result.detail}", flush=True)
