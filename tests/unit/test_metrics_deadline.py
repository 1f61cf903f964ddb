"""A metrics connection has one deadline for all of it: callers that drip
their request a byte at a time (each read quick, the whole never done) are
cut off at the deadline, and their slots serve scrapes again."""

from __future__ import annotations

import select
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter

from stepline.telemetry import _metrics as metrics_http

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


def drip(port: int, cut_off: list[float]) -> None:
    """Send a request's first bytes, then a header byte every DRIP seconds
    until the runner ends the connection (its elapsed time goes to
    `cut_off`) or 10 deadlines pass (nothing goes)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as connection:
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
    drippers = [
        threading.Thread(target=drip, args=(server.server_port, cut_off))
        for _ in range(metrics_http.MAX_CONNECTIONS)
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
