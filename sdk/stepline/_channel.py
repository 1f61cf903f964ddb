"""The client's channel to a runner: over TLS or not, carrying the caller's
trace when tracing is on, with connections of its own that reconnect quickly
after a runner restart (`stepline.limits.GRPC_CHANNEL_OPTIONS`)."""

from __future__ import annotations

import grpc

from stepline.credentials import dial
from stepline.limits import GRPC_CHANNEL_OPTIONS
from stepline.telemetry import client_interceptors


def open_channel(
    address: str,
    root_certificates: bytes | None,
    certificate_chain: bytes | None = None,
    private_key: bytes | None = None,
) -> grpc.aio.Channel:
    """A channel to `address`; with `root_certificates` (PEM), over TLS, and
    with a client certificate when `certificate_chain` and `private_key` are given."""
    credentials = (
        None
        if root_certificates is None and certificate_chain is None
        else grpc.ssl_channel_credentials(root_certificates, private_key, certificate_chain)
    )
    return dial(
        address, credentials, options=GRPC_CHANNEL_OPTIONS, interceptors=client_interceptors()
    )
