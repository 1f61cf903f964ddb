"""What the executor TLS tests share: the certificates and token they make
(`Pki`), the environment that serves a test executor over TLS, and calls
made as an outsider would make them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from stepline.credentials import dial
from stepline.v1 import executor_pb2, executor_pb2_grpc, payload_pb2
from tests.support.certificates import Authority


@dataclass
class Pki:
    """Ours (the runner's CA, its service and client certificates, its token)
    and another authority's client certificate, as an attacker would hold."""

    ca: Path
    server: tuple[Path, Path]
    runner: tuple[Path, Path]
    token: Path
    other_ca: Path
    mallory: tuple[Path, Path]

    def credentials(
        self, ca: Path | None = None, client: tuple[Path, Path] | None = None
    ) -> grpc.ChannelCredentials:
        cert, key = client or (None, None)
        return grpc.ssl_channel_credentials(
            (ca or self.ca).read_bytes(),
            key.read_bytes() if key else None,
            cert.read_bytes() if cert else None,
        )


def pki_fixture() -> Callable[..., Pki]:
    """A module-scoped fixture yielding a fresh `Pki`."""

    @pytest.fixture(scope="module")
    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Pki:
        return make_pki(tmp_path_factory.mktemp("pki"))

    return fixture


def make_pki(directory: Path) -> Pki:
    ours, other = Authority.create(directory, "ours"), Authority.create(directory, "other")
    token = directory / "runner.token"
    token.write_text("s3cret-runner-token\n")
    return Pki(
        ours.ca, ours.server("svc"), ours.client("runner"), token, other.ca, other.client("mallory")
    )


def tls_env(pki: Pki, *, client_ca: bool = False, token: bool = False) -> dict[str, str]:
    cert, key = pki.server
    env = {"STEPLINE_EXECUTOR_TLS_CERT": str(cert), "STEPLINE_EXECUTOR_TLS_KEY": str(key)}
    if client_ca:
        env["STEPLINE_EXECUTOR_CLIENT_CA"] = str(pki.ca)
    if token:
        env["STEPLINE_EXECUTOR_TOKEN_FILE"] = str(pki.token)
    return env


async def call(
    address: str,
    method: str,
    request: Any,
    credentials: grpc.ChannelCredentials | None = None,
    metadata: tuple[tuple[str, str], ...] = (),
) -> tuple[grpc.StatusCode, Any]:
    """One ExecutorService call as an outsider makes it: its status and response."""
    async with dial(address, credentials) as channel:
        stub = executor_pb2_grpc.ExecutorServiceStub(channel)
        try:
            response = await getattr(stub, method)(request, timeout=5, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            return exc.code(), exc.details()
    return grpc.StatusCode.OK, response


def forged(run_id: str, executor_id: str) -> executor_pb2.RestoreCheckpointRequest:
    state = payload_pb2.Payload(
        type_name="stage.state",
        content_type="application/json",
        data=b'{"count":900,"total":900,"seen":[]}',
    )
    return executor_pb2.RestoreCheckpointRequest(
        run_id=run_id, executor_id=executor_id, executor_type="stage", state=state
    )
