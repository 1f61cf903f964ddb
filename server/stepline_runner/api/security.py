"""Exposing the runner beyond the machine: TLS (requiring client certificates
when principals are named by theirs), and who may call (see auth)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc

from stepline.credentials import server_credentials
from stepline.service_security import LOOPBACK_HOSTS
from stepline.telemetry import MetricsTls

from .auth import AuthConfig, Authorizer

LOOPBACK = LOOPBACK_HOSTS


@dataclass(frozen=True)
class Security:
    """TLS key pair (PEM), the CA that signs client certificates, and the
    callers: an auth configuration, or one token (admin of every namespace);
    all optional. Without either, every caller is admin of every namespace."""

    tls_cert: bytes | None = None
    tls_key: bytes | None = None
    token: str | None = None
    auth: AuthConfig | None = None
    client_ca: bytes | None = None

    def metrics_tls(self) -> MetricsTls | None:
        """The metrics endpoint's TLS: the runner's own, client certificates too."""
        if self.tls_cert is None or self.tls_key is None:
            return None
        return MetricsTls(self.tls_cert, self.tls_key, self.client_ca)

    def credentials(self) -> grpc.ServerCredentials | None:
        return server_credentials(self.tls_cert, self.tls_key, self.client_ca)

    def auth_config(self) -> AuthConfig:
        if self.auth is not None:
            return self.auth
        if self.token:
            return AuthConfig.single_token(self.token)
        return AuthConfig.open()

    def interceptors(self, followed: str = "") -> list[grpc.aio.ServerInterceptor[Any, Any]]:
        """`followed`: the database the runner follows (auth.FOLLOWER_SERVES)."""
        return [Authorizer(self.auth_config(), followed)]
