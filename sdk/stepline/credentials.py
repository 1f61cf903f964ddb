"""Reading the PEM files and token files that TLS and bearer tokens use.

Each is checked when it is read, so that a service (or the runner) refuses to
start with a message naming the file and what is wrong with it: gRPC itself
would only fail at the first connection, or log lines and bind nothing.
`CredentialsError` is a `ValueError`.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

TOKEN = re.compile(r"[!-~]+")
"""A token gRPC metadata can carry: printable ASCII, no spaces."""


class CredentialsError(ValueError):
    """A certificate, key or token that cannot be used; the message names the
    option or file and says what is wrong."""


def read_file(path: Path | str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CredentialsError(f"{what}: cannot read {path}: {exc.strerror}") from None


def read_certificates(path: Path | str, what: str) -> bytes:
    """The PEM certificates in `path` (a CA bundle, say), checked to parse."""
    data = read_file(path, what)
    try:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cadata=data.decode("ascii"))
    except (ssl.SSLError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        raise CredentialsError(
            f"{what}: {path} holds no usable PEM certificate ({_line(exc)})"
        ) from None
    return data


def read_key_pair(cert: Path | str, key: Path | str, what: str) -> tuple[bytes, bytes]:
    """A PEM certificate (chain) and its private key, checked to match; the
    key must not be encrypted (gRPC cannot ask for a password)."""
    cert_pem, key_pem = read_file(cert, what), read_file(key, what)
    try:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_cert_chain(cert, key, password=_no_password)
    except _Encrypted:
        raise CredentialsError(
            f"{what}: the private key {key} is encrypted; give it unencrypted "
            "(readable by this service's user only)"
        ) from None
    except (ssl.SSLError, ValueError) as exc:
        if getattr(exc, "reason", "") == "KEY_VALUES_MISMATCH":
            raise CredentialsError(
                f"{what}: the private key {key} does not belong to the certificate {cert}"
            ) from None
        raise CredentialsError(
            f"{what}: {cert} / {key} are not a PEM certificate and its private key ({_line(exc)})"
        ) from None
    return cert_pem, key_pem


def read_token(path: Path | str, what: str) -> str:
    """The token in `path`: one line of printable ASCII without spaces."""
    try:
        token = read_file(path, what).decode("ascii").strip()
    except UnicodeDecodeError:
        token = "\n"  # refused below, with the same words
    if not token:
        raise CredentialsError(f"{what}: {path} is empty")
    if not TOKEN.fullmatch(token):
        raise CredentialsError(
            f"{what}: {path}: a token is one line of printable ASCII characters, without spaces"
        )
    return token


def channel_credentials(
    root_certificates: bytes | None,
    certificate_chain: bytes | None = None,
    private_key: bytes | None = None,
    token: str | None = None,
) -> grpc.ChannelCredentials:
    """TLS trusting `root_certificates` (None: the system's roots), presenting
    a client certificate when given one, sending `authorization: Bearer
    <token>` on every call when given one (gRPC sends it over TLS only)."""
    tls = grpc.ssl_channel_credentials(root_certificates, private_key, certificate_chain)
    if token is None:
        return tls
    return grpc.composite_channel_credentials(tls, grpc.access_token_call_credentials(token))


def dial(
    address: str,
    credentials: grpc.ChannelCredentials | None = None,
    *,
    options: Sequence[tuple[str, Any]] = (),
    interceptors: Sequence[Any] | None = None,
) -> grpc.aio.Channel:
    """A channel to `address`: over TLS with `credentials`, else in plaintext."""
    if credentials is None:
        return grpc.aio.insecure_channel(address, options=options, interceptors=interceptors)
    return grpc.aio.secure_channel(address, credentials, options=options, interceptors=interceptors)


def server_credentials(
    tls_cert: bytes | None, tls_key: bytes | None, client_ca: bytes | None = None
) -> grpc.ServerCredentials | None:
    """What a server binds its port with: None (plaintext) without a
    certificate and key; TLS with them, requiring a client certificate signed
    by `client_ca` when given one (mTLS)."""
    if tls_cert is None or tls_key is None:
        return None
    return grpc.ssl_server_credentials(
        [(tls_key, tls_cert)],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


def read_channel_credentials(
    ca: Path | str | None,
    cert: Path | str | None = None,
    key: Path | str | None = None,
    token_file: Path | str | None = None,
) -> grpc.ChannelCredentials | None:
    """What a command's --ca, --cert/--key and --token-file say: None
    (plaintext) without --ca; `CredentialsError` for unusable files."""
    if ca is None:
        if cert or key or token_file:
            raise CredentialsError("--cert, --key and --token-file go over TLS: give --ca too")
        return None
    if (cert is None) != (key is None):
        raise CredentialsError("--cert and --key go together")
    chain, private_key = read_key_pair(cert, key, "--cert/--key") if cert and key else (None, None)
    token = read_token(token_file, "--token-file") if token_file else None
    return channel_credentials(read_certificates(ca, "--ca"), chain, private_key, token)


class _Encrypted(Exception):
    pass


def _no_password() -> bytes:
    # Called by OpenSSL only for an encrypted key; without it, OpenSSL would
    # prompt on the terminal.
    raise _Encrypted


def _line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]
