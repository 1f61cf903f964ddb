"""The metrics endpoint: `/metrics` of a Prometheus registry over HTTP, or over
TLS with the runner's own certificate (requiring a client certificate its
client CA signed, when it has one), on a thread of its own.

prometheus-client's `start_http_server` takes a certificate too, but does the
TLS handshake in its accept loop: one connection that never sends a
ClientHello would stop every scrape. Here each connection is handled in a
thread of its own, the handshake included, with a deadline for each read and
write, and at most `MAX_CONNECTIONS` at once (more are closed at once), so
what a caller that can reach the port costs is bounded.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

# Seconds a connection may take for its handshake, and for each read or write.
IO_SECONDS = 10.0
MAX_CONNECTIONS = 16


@dataclass(frozen=True)
class MetricsTls:
    """The runner's key pair (PEM), and the CA its callers' certificates are
    signed by (None: no client certificate asked for)."""

    cert: bytes
    key: bytes
    client_ca: bytes | None = None

    def context(self) -> ssl.SSLContext:
        """A server context; ssl.SSLError or ValueError for unusable PEM."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        with tempfile.TemporaryDirectory() as private:  # mode 0700; gone once loaded
            cert, key = Path(private, "cert.pem"), Path(private, "key.pem")
            for path, data in ((cert, self.cert), (key, self.key)):
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "wb") as f:
                    f.write(data)
            context.load_cert_chain(cert, key)
        if self.client_ca is not None:
            context.load_verify_locations(cadata=self.client_ca.decode(errors="replace"))
            context.verify_mode = ssl.CERT_REQUIRED
        return context


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # a scrape every few seconds is no news


class _Server(WSGIServer):
    """One thread per connection, at most MAX_CONNECTIONS; TLS in that thread."""

    tls: ssl.SSLContext | None = None
    slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)  # busy: the scraper tries again
            return
        thread = threading.Thread(target=self._handle, args=(request, client_address), daemon=True)
        thread.start()

    def _handle(self, request: socket.socket, client_address: Any) -> None:
        try:
            request.settimeout(IO_SECONDS)
            if self.tls is not None:
                request = self.tls.wrap_socket(request, server_side=True)
            self.finish_request(request, client_address)
        except (OSError, ssl.SSLError):
            pass  # a caller that went away, took too long, or failed the handshake
        finally:
            with contextlib.suppress(OSError):
                request.close()
            self.slots.release()


def serve(
    registry: CollectorRegistry, host: str, port: int, tls: MetricsTls | None = None
) -> tuple[WSGIServer, threading.Thread]:
    """Serve /metrics on host:port (0 picks one) until `shutdown()`."""
    context = tls.context() if tls is not None else None

    class Server(_Server):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    Server.tls = context
    httpd = make_server(host, port, make_wsgi_app(registry), Server, handler_class=_Quiet)
    thread = threading.Thread(target=httpd.serve_forever, name="metrics", daemon=True)
    thread.start()
    return httpd, thread
