"""The client's channel to a runner: over TLS or not, carrying the caller's
trace when tracing is on, with connections of its own that reconnect quickly
after a runner restart (`stepline.limits.GRPC_CHANNEL_OPTIONS`); and what to
check first when its calls cannot reach a runner (`Dialled.hint`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import grpc

from stepline.credentials import dial
from stepline.errors import SteplineError, from_rpc_error
from stepline.limits import GRPC_CHANNEL_OPTIONS
from stepline.telemetry import client_interceptors

_URL = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_PORT = re.compile(r":\d+$")
# gRPC's own target schemes, which need no port.
_SCHEMES = ("unix:", "unix-abstract:", "vsock:", "dns:", "ipv4:", "ipv6:")


def check_address(address: str) -> None:
    """Refuse a URL (`http://host:port`) where gRPC wants `HOST:PORT`: it
    would fail every call with a "misformatted domain name"."""
    if _URL.match(address) and not address.lower().startswith("dns://"):
        raise ValueError(
            f"the runner's address is HOST:PORT (e.g. 127.0.0.1:7070), not a URL: {address[:100]!r}"
        )


@dataclass(frozen=True)
class Dialled:
    """Where a client's channel goes and how: what its errors say to check."""

    address: str
    tls: bool = False
    client_certificate: bool = False

    def error(self, exc: grpc.aio.AioRpcError) -> SteplineError:
        """The SDK's error for a failed call, saying what to check first when
        the runner could not be reached or what answered is no runner."""
        return from_rpc_error(exc, self.hint)

    def hint(self, code: grpc.StatusCode, details: str) -> str:
        """What to check first, for a status gRPC itself gave (no runner's
        reason): "" when there is nothing to add."""
        where = repr(self.address[:100])
        if code == grpc.StatusCode.UNIMPLEMENTED and "Method not found" in details:
            return (
                f"{where} does not serve this call: is it a Stepline runner (not an "
                "executor service), and at least as new as this SDK?"
            )
        if code != grpc.StatusCode.UNAVAILABLE:
            return ""
        if "Connection refused" in details:
            port = "" if self._has_port() else " (it names no :PORT, so gRPC dialled 443)"
            return f"nothing listens at {where}{port}: is the runner up, at that address?"
        if "resolving" in details or "lookup" in details:
            return f"the host of {where} is not known: the address is HOST:PORT"
        if self.tls:
            return self._tls_hint(details, where)
        if _closed_while_connecting(details):
            return (
                f"{where} closed the connection: if the runner serves TLS, give "
                "root_certificates (the command's --ca-file)"
            )
        return ""

    def _tls_hint(self, details: str, where: str) -> str:
        if "WRONG_VERSION_NUMBER" in details:
            return (
                f"{where} does not answer in TLS: if the runner serves plaintext, "
                "leave out root_certificates (the command's --ca-file)"
            )
        if "CERTIFICATE_VERIFY_FAILED" in details:
            return (
                f"the runner at {where} showed a certificate not signed by "
                "root_certificates (the command's --ca-file)"
            )
        if "Hostname Verification" in details:
            return (
                f"the runner at {where} showed a certificate for another host than that address's"
            )
        if not _closed_while_connecting(details):
            return ""
        if self.client_certificate:
            return (
                f"{where} closed the connection: if the runner asks for a client "
                "certificate, it may not trust this one (signed by another CA?)"
            )
        return (
            f"{where} closed the connection: if the runner asks for a client "
            "certificate, give certificate_chain and private_key (the command's "
            "--cert-file, --key-file)"
        )

    def _has_port(self) -> bool:
        return bool(_PORT.search(self.address)) or self.address.startswith(_SCHEMES)


def _closed_while_connecting(details: str) -> bool:
    # Not a connection that broke in a call (a runner stopping): one that
    # the peer closed before it was made, as TLS servers do on plaintext.
    return "failed to connect" in details and "Socket closed" in details


def open_channel(
    address: str,
    root_certificates: bytes | None,
    certificate_chain: bytes | None = None,
    private_key: bytes | None = None,
) -> grpc.aio.Channel:
    """A channel to `address` (HOST:PORT; a URL is a `ValueError`); with
    `root_certificates` (PEM), over TLS, and with a client certificate when
    `certificate_chain` and `private_key` are given."""
    check_address(address)
    credentials = (
        None
        if root_certificates is None and certificate_chain is None
        else grpc.ssl_channel_credentials(root_certificates, private_key, certificate_chain)
    )
    return dial(
        address, credentials, options=GRPC_CHANNEL_OPTIONS, interceptors=client_interceptors()
    )
