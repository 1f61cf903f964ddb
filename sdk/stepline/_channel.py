"""The client's channel to a runner: over TLS or not, carrying the caller's
trace when tracing is on, reconnecting quickly after a runner restart."""

from __future__ import annotations

import grpc

from stepline.credentials import dial
from stepline.limits import GRPC_MESSAGE_OPTIONS
from stepline.telemetry import client_interceptors

# Reconnect soon after a runner restart rather than after gRPC's default
# backoff, which grows to minutes. gRPC takes its min_reconnect_backoff as
# the time a connection attempt may take (handshake included): left at its
# 20 s, since at 100 ms a loaded machine failed first calls as UNAVAILABLE.
CHANNEL_OPTIONS = [
    *GRPC_MESSAGE_OPTIONS,
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 20_000),
    ("grpc.max_reconnect_backoff_ms", 2000),
]


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
    return dial(address, credentials, options=CHANNEL_OPTIONS, interceptors=client_interceptors())
