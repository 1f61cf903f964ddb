"""A metrics connection has one deadline for all of it: callers that drip
their request a byte at a time (each read quick, the whole never done) are
cut off at the deadline, and their slots serve scrapes again. One address
holds at most MAX_PER_PEER of the slots, and a TLS handshake has a shorter
deadline of its own."""

from __future__ import annotations

import select
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter

from stepline.telemetry import _metrics as metrics_http
from tests.support.certificates import self_signed

DEADLINE = 1.0  # 10 s in the runner and executor services
DRIP = 0.1 * DEADLINE  # each byte well within any per-read timeout


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[metrics_http._Server]:
    monkeypatch.setattr(metrics_http, "DEADLINE_SECONDS", DEADLINE)
    registry = CollectorRegistry()
    Counter("scrapes_test", "a metric to find", registry=registry).inc()
    httpd, thread = metrics_http.serve_metrics(registry, "127.0.0.1", 0)
    assert isinstance(httpd, metrics_http._Server)
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def drip(port: int, cut_off: list[float], source: str = "127.0.0.1") -> None:
    """From address `source`, send a request's first bytes, then a header
    byte every DRIP seconds until the runner ends the connection (its elapsed
    time goes to `cut_off`) or 10 deadlines pass (nothing goes)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), source_address=(source, 0)) as connection:
        connection.sendall(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
        while time.monotonic() - started < 10 * DEADLINE:
            # Paces the drip; wakes at once when the runner shuts the socket down.
            readable, _, _ = select.select([connection], [], [], DRIP)
            try:
                if readable:
                    connection.recv(1024)
                    break
                connection.send(b"a")
            except OSError:
                break
        else:
            return
    cut_off.append(time.monotonic() - started)


def test_dripping_callers_are_cut_off_at_the_deadline_and_scrapes_go_on(
    server: metrics_http._Server,
) -> None:
    cut_off: list[float] = []
    per_peer = metrics_http.MAX_PER_PEER  # each of 4 loopback addresses takes its share
    drippers = [
        threading.Thread(
            target=drip, args=(server.server_port, cut_off, f"127.0.0.{1 + i // per_peer}")
        )
        for i in range(metrics_http.MAX_CONNECTIONS)
    ]
    for dripper in drippers:
        dripper.start()
    for dripper in drippers:
        dripper.join()
    # Every slot free again: a dripper sees its end just before its slot is released.
    for _ in range(metrics_http.MAX_CONNECTIONS):
        assert server.slots.acquire(timeout=10 * DEADLINE)
    for _ in range(metrics_http.MAX_CONNECTIONS):
        server.slots.release()
    url = f"http://127.0.0.1:{server.server_port}/metrics"
    with urllib.request.urlopen(url, timeout=10 * DEADLINE) as response:
        text = response.read().decode()

    # Before: each byte came within the per-read timeout, so no dripper was
    # ever cut off, they held all 16 slots, and every scrape was refused.
    assert len(cut_off) == metrics_http.MAX_CONNECTIONS
    assert min(cut_off) >= DEADLINE
    assert "scrapes_test_total 1.0" in text


def test_one_address_holds_at_most_its_share_of_the_slots(server: metrics_http._Server) -> None:
    cut_off: list[float] = []
    drippers = [
        threading.Thread(target=drip, args=(server.server_port, cut_off))
        for _ in range(metrics_http.MAX_PER_PEER)
    ]
    for dripper in drippers:
        dripper.start()
    try:
        _held(server, metrics_http.MAX_PER_PEER)
        # One more from that address is closed at once, while the others drip on.
        with socket.create_connection(("127.0.0.1", server.server_port)) as refused:
            refused.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            assert refused.recv(1024) == b""
        assert not cut_off
        # Another address is served meanwhile.
        with socket.create_connection(
            ("127.0.0.1", server.server_port), source_address=("127.0.0.2", 0)
        ) as other:
            other.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            assert b"scrapes_test_total 1.0" in _all_of(other)
        assert not cut_off
    finally:
        for dripper in drippers:
            dripper.join()
    assert len(cut_off) == metrics_http.MAX_PER_PEER


def _held(server: metrics_http._Server, count: int) -> None:
    """Wait until `count` connections hold slots."""
    deadline = time.monotonic() + 10 * DEADLINE
    while True:
        with server.peers_lock:
            if sum(server.peers.values()) == count:
                return
        assert time.monotonic() < deadline, "the connections were never admitted"
        select.select([], [], [], 0.01)


def _all_of(connection: socket.socket) -> bytes:
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def test_a_tls_handshake_never_begun_is_cut_off_at_its_own_deadline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(metrics_http, "DEADLINE_SECONDS", 20 * DEADLINE)
    monkeypatch.setattr(metrics_http, "HANDSHAKE_SECONDS", DEADLINE)
    cert, key = self_signed(tmp_path)
    tls = metrics_http.MetricsTls(cert.read_bytes(), key.read_bytes())
    httpd, thread = metrics_http.serve_metrics(CollectorRegistry(), "127.0.0.1", 0, tls)
    try:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", httpd.server_port)) as silent:
            silent.settimeout(20 * DEADLINE)
            assert silent.recv(1024) == b""  # no ClientHello: closed
        took = time.monotonic() - started
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
    # At the handshake's deadline, not the connection's (20 of them).
    assert DEADLINE <= took < 10 * DEADLINE
