"""Exposing the runner: TLS and a bearer token, and no exposure by accident."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from stepline import NotFoundError, RunnerClient, UnauthenticatedError, UnavailableError
from tests.support.certificates import self_signed
from tests.support.cluster import Cluster
from tests.support.processes import Service

pytestmark = pytest.mark.asyncio(loop_scope="module")

TOKEN = "s3cret-token"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def secured(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Service, bytes]]:
    """A runner with TLS and a token (and no executors); its certificate."""
    tmp = tmp_path_factory.mktemp("secured")
    cert, key = self_signed(tmp)
    token_file = tmp / "token"
    token_file.write_text(TOKEN + "\n")
    options = ["--tls-cert", str(cert), "--tls-key", str(key), "--auth-token-file", str(token_file)]
    cluster = await Cluster.start(tmp, runner_options=options)
    try:
        yield cluster.runner, cert.read_bytes()
    finally:
        await cluster.close()


async def test_tls_and_the_token_let_a_client_in(secured: tuple[Service, bytes]) -> None:
    runner, cert = secured
    async with RunnerClient(runner.address, root_certificates=cert, token=TOKEN) as client:
        with pytest.raises(NotFoundError):  # past TLS and the token: a real answer
            await client.get_run("nope")
        with pytest.raises(NotFoundError):
            [e async for e in client.watch("nope")]


async def test_a_client_without_the_token_is_refused(secured: tuple[Service, bytes]) -> None:
    runner, cert = secured
    async with RunnerClient(runner.address, root_certificates=cert) as anonymous:
        with pytest.raises(UnauthenticatedError, match="needs a token"):
            await anonymous.get_run("nope")
        with pytest.raises(UnauthenticatedError):
            [e async for e in anonymous.watch("nope")]
    async with RunnerClient(runner.address, root_certificates=cert, token="wrong") as wrong:
        with pytest.raises(UnauthenticatedError):
            await wrong.get_run("nope")


async def test_a_plaintext_client_cannot_talk_to_a_tls_runner(
    secured: tuple[Service, bytes],
) -> None:
    runner, _ = secured
    async with RunnerClient(runner.address, token=TOKEN) as plaintext:
        with pytest.raises(UnavailableError):
            await plaintext.get_run("nope")


async def test_the_runner_will_not_listen_beyond_loopback_by_accident(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stepline_runner",
        "--db",
        str(tmp_path / "stepline.db"),
        "--host",
        "0.0.0.0",
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()

    assert process.returncode == 2
    assert b"exposes the runner beyond this machine" in stderr
    assert not (tmp_path / "stepline.db").exists()
