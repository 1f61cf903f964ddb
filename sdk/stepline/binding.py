"""Binding a gRPC server's port, with a plain error when it cannot be had."""

from __future__ import annotations

import contextlib
import socket

import grpc


def bind(
    server: grpc.aio.Server, host: str, port: int, credentials: grpc.ServerCredentials | None = None
) -> int:
    """Bind host:port (0 picks a free port) and return the port; `OSError`
    saying why when it cannot."""
    address = f"{host}:{port}"
    # Asked first so that a taken port gets our one line, not gRPC's log lines.
    if port:
        _check_free(host, port)
    try:
        if credentials is not None:
            bound = server.add_secure_port(address, credentials)
        else:
            bound = server.add_insecure_port(address)
    except RuntimeError:  # grpcio's "Failed to bind"; older versions returned 0
        bound = 0
    if bound == 0:
        raise OSError(f"cannot listen on {address}")
    return bound


def _check_free(host: str, port: int) -> None:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
            with contextlib.suppress(OSError):
                probe.close()
