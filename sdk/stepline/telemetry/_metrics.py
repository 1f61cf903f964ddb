"""A metrics endpoint: `/metrics` of a Prometheus registry over HTTP, or over
TLS with the process's own certificate (requiring a client certificate its
client CA signed, when it has one), on a thread of its own. `allow` decides
who may read them, from the request's `Authorization` header and its client
certificate's subject: the runner's from its API's auth configuration, an
executor service's from its `ServiceSecurity` token.

prometheus-client's `start_http_server` takes a certificate too, but does the
TLS handshake in its accept loop: one connection that never sends a
ClientHello would stop every scrape. Here each connection is handled in a
thread of its own, the handshake included, with one deadline for all of it
(a deadline for each read would let a caller that drips a byte now and then
hold its connection forever) and a shorter one for the handshake, and at
most `MAX_CONNECTIONS` at once, `MAX_PER_PEER` of them from one address
(more are closed at once), so what a caller that can reach the port costs
is bounded, and one address cannot take every slot from the scraper.
"""

from __future__ import annotations

import collections
import contextlib
import os
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

# Seconds a connection may take for all of it: handshake, request and reply.
DEADLINE_SECONDS = 10.0
# Seconds the TLS handshake may take of that: a caller that never finishes it
# (or speaks plain HTTP to TLS) lets its slot go sooner.
HANDSHAKE_SECONDS = 3.0
MAX_CONNECTIONS = 16
MAX_PER_PEER = 4  # a scraper needs one; the rest stay for other addresses
SUBJECT = "stepline.client_subject"  # the WSGI environ key of the client's subject
# OpenSSL's short names, as gRPC writes a subject (RFC 2253: "CN=a,O=b").
SHORT_NAMES = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "domainComponent": "DC",
    "streetAddress": "STREET",
    "userId": "UID",
}
SPECIAL = ',+"\\<>;'


@dataclass(frozen=True)
class MetricsTls:
    """The process's key pair (PEM), and the CA its callers' certificates are
    signed by (None: no client certificate asked for)."""

    cert: bytes
    key: bytes
    client_ca: bytes | None = None

    def context(self) -> ssl.SSLContext:
        """A server context; ssl.SSLError or ValueError for unusable PEM."""
        # No default CAs: only client certificates `client_ca` signed are trusted.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
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


@dataclass(frozen=True)
class MetricsRefusal:
    """Why a request may not read the metrics: 401 (no credentials the process
    knows) or 403 (the runner's: a principal without a role in every namespace)."""

    status: int
    message: str


# (the Authorization header, the client certificate's subject) -> None: allowed.
MetricsAllow = Callable[[str | None, str | None], MetricsRefusal | None]


def metrics_subject(certificate: dict[str, Any]) -> str:
    """A peer certificate's subject (`SSLSocket.getpeercert()`) as gRPC's
    x509_subject writes it, so that one tls_subject names it on both ports."""
    rdns = reversed(certificate.get("subject", ()))
    return ",".join("+".join(f"{SHORT_NAMES.get(k, k)}={_escaped(v)}" for k, v in r) for r in rdns)


def _escaped(value: str) -> str:
    value = "".join(f"\\{c}" if c in SPECIAL else c for c in value)
    if value[:1] in ("#", " "):
        value = "\\" + value
    return value[:-1] + "\\ " if value.endswith(" ") else value


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # a scrape every few seconds is no news

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        if isinstance(self.connection, ssl.SSLSocket):
            certificate = self.connection.getpeercert()
            environ[SUBJECT] = metrics_subject(dict(certificate)) if certificate else None
        return environ


def guarded(app: Any, allow: MetricsAllow) -> Any:
    """The WSGI app, answering 401 or 403 (a line of text, no metrics) when
    `allow` refuses the request."""

    def guarded_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        refusal = allow(environ.get("HTTP_AUTHORIZATION"), environ.get(SUBJECT))
        if refusal is None:
            result: Iterable[bytes] = app(environ, start_response)
            return result
        headers = [("Content-Type", "text/plain; charset=utf-8")]
        if refusal.status == 401:
            headers.append(("WWW-Authenticate", 'Bearer realm="stepline metrics"'))
        reason = "Unauthorized" if refusal.status == 401 else "Forbidden"
        start_response(f"{refusal.status} {reason}", headers)
        return [refusal.message.encode() + b"\n"]

    return guarded_app


class _Deadline:
    """Shuts a connection's socket down (its reads and writes fail at once)
    when its time is up, unless `cancel`led first."""

    def __init__(self, request: socket.socket, seconds: float) -> None:
        # A twin descriptor of the same socket: it stays valid (and unwrapped)
        # after the TLS wrapper takes over the original.
        self._twin: socket.socket | None = request.dup()
        self._lock = threading.Lock()
        self._timer = self._start(seconds)

    def _start(self, seconds: float) -> threading.Timer:
        timer = threading.Timer(seconds, self._expire)
        timer.daemon = True
        timer.start()
        return timer

    def move(self, seconds: float) -> None:
        """End the connection `seconds` from now instead (unless it ended)."""
        self._timer.cancel()
        self._timer = self._start(seconds)

    def _expire(self) -> None:
        with self._lock, contextlib.suppress(OSError):
            if self._twin is not None:
                self._twin.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()
        with self._lock:  # not while _expire uses the descriptor
            if self._twin is not None:
                self._twin.close()
                self._twin = None


class _Server(WSGIServer):
    """One thread per connection, at most MAX_CONNECTIONS, MAX_PER_PEER from
    one address; TLS in that thread."""

    tls: ssl.SSLContext | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.peers: collections.Counter[str] = collections.Counter()  # address -> connections
        self.peers_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        peer = str(client_address[0])
        with self.peers_lock:
            admitted = self.peers[peer] < MAX_PER_PEER and self.slots.acquire(blocking=False)
            if admitted:
                self.peers[peer] += 1
        if not admitted:
            self.shutdown_request(request)  # busy: the scraper tries again
            return
        thread = threading.Thread(
            target=self._handle, args=(request, client_address, peer), daemon=True
        )
        thread.start()

    def _handle(self, request: socket.socket, client_address: Any, peer: str) -> None:
        started = time.monotonic()
        deadline = _Deadline(request, min(HANDSHAKE_SECONDS, DEADLINE_SECONDS))
        try:
            if self.tls is not None:
                request = self.tls.wrap_socket(request, server_side=True)
            deadline.move(DEADLINE_SECONDS - (time.monotonic() - started))
            self.finish_request(request, client_address)
        except (OSError, ssl.SSLError):
            pass  # a caller that went away, took too long, or failed the handshake
        finally:
            deadline.cancel()
            with contextlib.suppress(OSError):
                request.close()
            with self.peers_lock:
                self.peers[peer] -= 1
                if not self.peers[peer]:
                    del self.peers[peer]
            self.slots.release()


def serve_metrics(
    registry: CollectorRegistry,
    host: str,
    port: int,
    tls: MetricsTls | None = None,
    allow: MetricsAllow = lambda authorization, subject: None,
) -> tuple[WSGIServer, threading.Thread]:
    """Serve /metrics on host:port (0 picks one), to whom `allow` lets read
    them, until `shutdown()`."""
    context = tls.context() if tls is not None else None

    class Server(_Server):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    Server.tls = context
    app = guarded(make_wsgi_app(registry), allow)
    httpd = make_server(host, port, app, Server, handler_class=_Quiet)
    thread = threading.Thread(target=httpd.serve_forever, name="metrics", daemon=True)
    thread.start()
    return httpd, thread
