"""Who may call an executor service: `ServiceSecurity`.

An executor service holds live state of runs: any caller that can reach it
could read it (`SaveCheckpoint`) or overwrite it (`RestoreCheckpoint`). Served
with TLS and a required client certificate (mTLS) and/or a required token,
it answers only the runner that holds them:

- a caller without a client certificate signed by `client_ca` gets no
  connection at all (the TLS handshake fails; its calls end `UNAVAILABLE`);
- a caller without `authorization: Bearer <token>` gets `UNAUTHENTICATED` on
  every call, `Describe` and streams included, before its request is read.

The gRPC health service stays open (to probes that get through TLS): it tells
nothing but "serving".
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from stepline.credentials import (
    CredentialsError,
    read_certificates,
    read_key_pair,
    read_token,
    server_credentials,
)
from stepline.interceptors import HandlerInterceptor, same_shape

ENV_TLS_CERT = "STEPLINE_EXECUTOR_TLS_CERT"
ENV_TLS_KEY = "STEPLINE_EXECUTOR_TLS_KEY"
ENV_CLIENT_CA = "STEPLINE_EXECUTOR_CLIENT_CA"
ENV_TOKEN_FILE = "STEPLINE_EXECUTOR_TOKEN_FILE"
OPEN_PREFIXES = ("/grpc.health.",)


@dataclass(frozen=True)
class ServiceSecurity:
    """TLS and caller authentication of an executor service; all optional.

    - `tls_cert`, `tls_key`: the service's PEM certificate (chain) and private
      key; with them it serves TLS only. The certificate must name the host the
      runner dials (a DNS name or IP address in its subject alternative names).
    - `client_ca`: PEM certificates of the authorities whose client
      certificates it accepts; with it, every caller must present one (mTLS).
    - `token`: every call must carry `authorization: Bearer <token>`.

    `client_ca` and `token` need TLS (a token in plaintext could be read off
    the wire), and a certificate needs its key: `CredentialsError` otherwise.
    Build one from files with `from_files`, or from the environment with
    `from_environment` (what `run_executors` does).
    """

    tls_cert: bytes | None = None
    tls_key: bytes | None = None
    client_ca: bytes | None = None
    token: str | None = None

    def __post_init__(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise CredentialsError("a TLS certificate and its private key go together")
        if self.tls_cert is None and (self.client_ca is not None or self.token is not None):
            needs = "requiring client certificates" if self.client_ca else "requiring a token"
            raise CredentialsError(f"{needs} needs TLS: give the service's certificate and key too")

    @classmethod
    def from_files(
        cls,
        *,
        tls_cert: Path | str | None = None,
        tls_key: Path | str | None = None,
        client_ca: Path | str | None = None,
        token_file: Path | str | None = None,
        names: Mapping[str, str] | None = None,
    ) -> ServiceSecurity:
        """Read and check the files (PEM certificate and key, PEM CA bundle, a
        file holding the token); `CredentialsError` names the one that is
        unusable: unreadable, not PEM, a key that does not match its
        certificate or is encrypted, an empty token. `names` says what to call
        each option in those messages (default: the argument's name)."""
        label = {"tls_cert": "tls_cert", "client_ca": "client_ca", "token_file": "token_file"}
        label.update(names or {})
        if (tls_cert is None) != (tls_key is None):
            raise CredentialsError(
                f"{label['tls_cert']} and its private key go together: give both or neither"
            )
        cert, key = (None, None)
        if tls_cert is not None and tls_key is not None:
            cert, key = read_key_pair(tls_cert, tls_key, label["tls_cert"])
        return cls(
            tls_cert=cert,
            tls_key=key,
            client_ca=read_certificates(client_ca, label["client_ca"]) if client_ca else None,
            token=read_token(token_file, label["token_file"]) if token_file else None,
        )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> ServiceSecurity:
        """From file paths in STEPLINE_EXECUTOR_TLS_CERT and
        STEPLINE_EXECUTOR_TLS_KEY (serve TLS), STEPLINE_EXECUTOR_CLIENT_CA
        (require client certificates) and STEPLINE_EXECUTOR_TOKEN_FILE (require
        the token that file holds); none set: plaintext, no checks."""
        values = {name: environ.get(name) or None for name in _ENV}
        return cls.from_files(
            tls_cert=values[ENV_TLS_CERT],
            tls_key=values[ENV_TLS_KEY],
            client_ca=values[ENV_CLIENT_CA],
            token_file=values[ENV_TOKEN_FILE],
            names={
                "tls_cert": f"{ENV_TLS_CERT}/{ENV_TLS_KEY}",
                "client_ca": ENV_CLIENT_CA,
                "token_file": ENV_TOKEN_FILE,
            },
        )

    def server_credentials(self) -> grpc.ServerCredentials | None:
        """What to bind the port with; None for plaintext."""
        return server_credentials(self.tls_cert, self.tls_key, self.client_ca)

    def accepts(self, authorization: str | bytes | None) -> bool:
        """Whether a caller sending this `authorization` (metadata, or the
        HTTP header of the metrics endpoint) may in: yes without a token."""
        return self.token is None or bearer_matches(authorization, bearer_digest(self.token))

    def interceptors(self) -> list[grpc.aio.ServerInterceptor[Any, Any]]:
        """The server interceptors to serve with: with a token, one requiring it."""
        return [RequireToken(self.token)] if self.token else []

    def summary(self) -> str:
        """How it serves, for its start-up line: "plaintext", "TLS", "TLS,
        client certificate and token required"."""
        if self.tls_cert is None:
            return "plaintext"
        required = [
            name
            for name, on in (("client certificate", self.client_ca), ("token", self.token))
            if on
        ]
        return "TLS" + (f", {' and '.join(required)} required" if required else "")


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def exposure_warning(host: str, security: ServiceSecurity) -> str | None:
    """What to warn of when a service listens beyond loopback and lets any
    caller in: anyone who reaches it can read and overwrite runs' state."""
    if host in LOOPBACK_HOSTS or (security.client_ca or security.token):
        return None
    how = "in plaintext" if security.tls_cert is None else "without client authentication"
    return (
        f"warning: serving on {host} {how}: anyone who can reach it can read and change the "
        f"state of runs; require the runner's client certificate ({ENV_CLIENT_CA}) or "
        f"token ({ENV_TOKEN_FILE}) over TLS"
    )


_ENV = (ENV_TLS_CERT, ENV_TLS_KEY, ENV_CLIENT_CA, ENV_TOKEN_FILE)
_REFUSED = "this executor service needs a token: send 'authorization: Bearer <token>' metadata"


class RequireToken(HandlerInterceptor):
    """Answers `UNAUTHENTICATED` to every call (any method shape) without the
    expected `authorization: Bearer <token>`, comparing in constant time."""

    open_prefixes = OPEN_PREFIXES

    def __init__(self, token: str) -> None:
        self._expected = bearer_digest(token)

    def wrap(
        self, handler: grpc.RpcMethodHandler[Any, Any], details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any]:
        given = next((v for k, v in details.invocation_metadata or () if k == "authorization"), "")
        if bearer_matches(given, self._expected):
            return handler
        return refused(handler)


def bearer_digest(token: str) -> bytes:
    return hashlib.sha256(f"Bearer {token}".encode()).digest()


def bearer_matches(sent: str | bytes | None, expected: bytes) -> bool:
    """`sent` is `Bearer <the token>` of `expected` (`bearer_digest`): the
    digests are compared, in constant time, so not even the token's length
    shows in how long a refusal takes."""
    raw = sent if isinstance(sent, bytes) else str(sent or "").encode()
    return hmac.compare_digest(hashlib.sha256(raw).digest(), expected)


def refused(handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler of the same shape as `handler` answering `UNAUTHENTICATED`,
    which never decodes what the caller sent."""

    async def unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, _REFUSED)

    async def stream(
        request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, _REFUSED)
        yield  # pragma: no cover - abort raises; this makes it a stream handler

    return same_shape(handler, unary, stream, request_deserializer=_ignored)


def _ignored(data: bytes) -> None:
    return None
