"""The runner's metrics endpoint, from a scraper's side, against a real
runner process: with the runner's TLS configured it serves HTTPS with the
same certificate, asking for a client certificate its client CA signed; only
a principal with a role on "*" reads the metrics (by its certificate's
subject or a bearer token); a connection that never finishes its handshake
blocks no scrape; and metrics beyond loopback without TLS are refused at
start-up unless --insecure."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from stepline import testing
from tests.e2e.test_observability_startup import runner_exit
from tests.support.certificates import Authority, authority_fixture
from tests.support.metrics import fetch
from tests.support.processes import ROOT

pytestmark = pytest.mark.asyncio(loop_scope="module")

authority = authority_fixture("metrics-ca")


@dataclass
class Endpoint:
    url: str
    authority: Authority
    client: tuple[Path, Path]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def endpoint(
    authority: Authority, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Endpoint]:
    tmp = tmp_path_factory.mktemp("metrics-tls")
    cert, key = authority.server("runner")
    principals = [
        {"name": "scraper", "tls_subject": "CN=scraper", "roles": {"*": "reader"}},
        {"name": "root", "token_sha256": digest("root-token"), "roles": {"*": "admin"}},
        {"name": "admin-a", "token_sha256": digest("a-token"), "roles": {"team-a": "admin"}},
    ]
    (tmp / "auth.json").write_text(json.dumps({"principals": principals}))
    runner = await testing.start_runner(
        tmp / "stepline.db",
        0,
        *("--tls-cert", str(cert), "--tls-key", str(key), "--tls-client-ca", str(authority.ca)),
        *("--auth-config", str(tmp / "auth.json"), "--metrics-port", "0"),
        cwd=ROOT,
    )
    try:
        assert runner.metrics_port is not None
        url = f"https://127.0.0.1:{runner.metrics_port}/metrics"
        yield Endpoint(url, authority, authority.client("scraper"))
    finally:
        await runner.kill()


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def scraper(
    endpoint: Endpoint, certificate: tuple[Path, Path] | None = None, none: bool = False
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=endpoint.authority.ca)
    if not none:
        context.load_cert_chain(*(certificate or endpoint.client))
    return context


async def refusal(endpoint: Endpoint, context: ssl.SSLContext, token: str = "") -> tuple[int, str]:
    with pytest.raises(urllib.error.HTTPError) as refused:
        await asyncio.to_thread(fetch, endpoint.url, context, token)
    return refused.value.code, refused.value.read().decode()


async def test_metrics_go_over_the_runner_s_tls_to_a_scraper_with_a_client_certificate(
    endpoint: Endpoint,
) -> None:
    text = await asyncio.to_thread(fetch, endpoint.url, scraper(endpoint))
    # Refused in the handshake, or (TLS 1.3) at the first read: an OSError either way.
    with pytest.raises(OSError):
        await asyncio.to_thread(fetch, endpoint.url, scraper(endpoint, none=True))
    with pytest.raises(OSError):  # plaintext to a TLS port
        await asyncio.to_thread(fetch, endpoint.url.replace("https:", "http:"))

    # Before: served in plaintext only, so no TLS scrape got any of it.
    assert "# TYPE stepline_superstep_duration_seconds histogram" in text


async def test_only_a_principal_with_a_role_on_every_namespace_reads_the_metrics(
    endpoint: Endpoint,
) -> None:
    other = scraper(endpoint, endpoint.authority.client("other"))  # signed, but names no one
    by_root = await asyncio.to_thread(fetch, endpoint.url, other, "root-token")
    unknown = await refusal(endpoint, other)
    team_a = await refusal(endpoint, other, "a-token")
    bad_token = await refusal(endpoint, other, "x" * 5000)

    assert "# TYPE stepline_superstep_duration_seconds histogram" in by_root
    assert unknown == (
        401,
        "the client certificate's subject names no principal of this runner\n",
    )
    assert team_a == (
        403,
        "the metrics cover every namespace: principal 'admin-a' needs a role on '*' in "
        "the runner's auth configuration\n",
    )
    assert bad_token == (401, "the 'Authorization' header must be 'Bearer <token>'\n")


async def test_a_connection_that_never_says_hello_blocks_no_scrape(endpoint: Endpoint) -> None:
    port = int(endpoint.url.split(":")[2].split("/")[0])
    silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    try:
        text = await asyncio.wait_for(asyncio.to_thread(fetch, endpoint.url, scraper(endpoint)), 30)
    finally:
        for connection in silent:
            connection.close()
    assert "# TYPE stepline_superstep_duration_seconds histogram" in text


async def test_metrics_beyond_loopback_without_tls_are_refused(tmp_path: Path) -> None:
    code, err = await runner_exit(tmp_path, "--metrics-port", "0", "--metrics-host", "0.0.0.0")

    assert code == 2
    assert "--metrics-host 0.0.0.0 serves metrics beyond this machine: give --tls-cert" in err
    assert len(err.splitlines()) == 1
