"""The `stepline` command's connection options against a runner that serves
TLS and wants a token: --ca-file, --token-file and their variables."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from tests.support.certificates import self_signed
from tests.support.cli import stepline
from tests.support.cluster import Cluster

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Secured:
    address: str
    ca: Path
    token: Path


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def secured(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Secured]:
    tmp = tmp_path_factory.mktemp("cli-secured")
    cert, key = self_signed(tmp)
    token = tmp / "token"
    token.write_text("cli-token\n")
    options = ["--tls-cert", str(cert), "--tls-key", str(key), "--auth-token-file", str(token)]
    cluster = await Cluster.start(tmp, runner_options=options)
    try:
        yield Secured(cluster.runner.address, cert, token)
    finally:
        await cluster.close()


async def test_the_ca_and_the_token_files_let_the_command_in(secured: Secured) -> None:
    options = ["--ca-file", str(secured.ca), "--token-file", str(secured.token)]
    listed = await stepline(*options, "run", "list", "--json", address=secured.address)
    assert listed.code == 0, listed.stderr
    assert listed.json() == []
    env = {"STEPLINE_CA_FILE": str(secured.ca), "STEPLINE_TOKEN_FILE": str(secured.token)}
    missing = await stepline("run", "get", "nope", address=secured.address, env=env)
    assert missing.code == 1 and "NOT_FOUND" in missing.stderr  # past TLS and the token


async def test_without_the_token_the_command_exits_1_unauthenticated(
    secured: Secured, tmp_path: Path
) -> None:
    anonymous = await stepline("--ca-file", str(secured.ca), "run", "list", address=secured.address)
    assert anonymous.code == 1 and "UNAUTHENTICATED" in anonymous.stderr
    wrong = tmp_path / "wrong"
    wrong.write_text("not-it")
    refused = await stepline(
        "--ca-file",
        str(secured.ca),
        "--token-file",
        str(wrong),
        "run",
        "list",
        address=secured.address,
    )
    assert refused.code == 1 and "UNAUTHENTICATED" in refused.stderr
    empty = tmp_path / "empty"
    empty.write_text("\n")
    blank = await stepline("--token-file", str(empty), "run", "list", address=secured.address)
    assert blank.code == 2 and "is empty" in blank.stderr
