"""A service that cannot start says why in one line on stderr and exits with
code 2, leaving nothing behind: the runner (taken port, unreadable or invalid
certificate, bad options) releases its database lock; an executor service
(`run_executors`) on a taken port does the same."""

from __future__ import annotations

import asyncio
import socket
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import ROOT, start_runner


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


async def run(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, stderr.decode()


def runner(db: Path, *options: str) -> tuple[str, ...]:
    return ("-m", "stepline_runner", "--db", str(db), *options)


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (("--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"), "cannot read"),
        (("--tls-cert", "{bad}", "--tls-key", "{bad}"), "not a PEM certificate"),
        (("--limit", "cel_budget=-1"), "--limit cel_budget: must be positive"),
        (("--limit", "nonsense"), "expected NAME=VALUE"),
        (("--executor-retries", "0"), "--executor-retries must be 1 or more"),
        (("--retry-backoff", "nan"), "--retry-backoff a positive number"),
        (("--auth-token-file", "{token}"), "a token is one line of printable ASCII"),
        (("--lease-seconds", "0.1"), "--lease-seconds must be between 0.3 and 3600"),
        (("--lease-seconds", "nan"), "--lease-seconds must be between 0.3 and 3600"),
        (("--lease-seconds", "2"), "a SQLite file is one runner's"),
        (("--max-runs", "0"), "--max-runs leaves runs to other runners"),
        (("--lease-seconds", "2", "--max-runs", "-1"), "--max-runs must be between 0 and"),
        (("--lease-seconds", "2", "--max-runs", "1e9"), "--max-runs: invalid int value"),
    ],
)
async def test_the_runner_refuses_bad_configuration_in_one_line(
    tmp_path: Path, options: tuple[str, ...], says: str
) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    token = tmp_path / "token"
    token.write_text("two\nlines\n")
    options = tuple(o.replace("{bad}", str(bad)).replace("{token}", str(token)) for o in options)

    code, stderr = await run(*runner(tmp_path / "stepline.db", "--port", "0", *options))

    assert code == 2
    assert len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith("stepline-runner: ") and says in stderr


async def test_a_runner_on_a_taken_port_exits_and_releases_the_database(
    tmp_path: Path, taken_port: int
) -> None:
    db = tmp_path / "stepline.db"

    code, stderr = await run(*runner(db, "--port", str(taken_port)))

    assert code == 2
    assert stderr.splitlines() == [
        f"stepline-runner: cannot listen on 127.0.0.1:{taken_port}: Address already in use"
    ]
    # The lock on the database went with it: another runner gets it.
    service = await start_runner(db)
    await service.terminate()


async def test_an_executor_service_on_a_taken_port_exits_in_one_line(
    tmp_path: Path, taken_port: int
) -> None:
    script = tmp_path / "service.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from stepline import Executor, WorkflowContext, handler, run_executors

            class Echo(Executor):
                @handler
                async def echo(self, text: str, ctx: WorkflowContext) -> None:
                    await ctx.yield_output(text)

            run_executors({{"echo": Echo}}, port={taken_port})
            """
        )
    )

    code, stderr = await run(str(script))

    assert code == 2
    assert stderr.splitlines() == [
        f"stepline executors: cannot listen on 127.0.0.1:{taken_port}: Address already in use"
    ]
