"""What a client's error says to check first, from the words gRPC gave (as
gRPC 1.85 words them; the e2e tests in test_client_connection.py see them
from real runners): nothing when it has nothing to add, and never for a
status the runner gave with its reason."""

from __future__ import annotations

import grpc
import pytest

from stepline._channel import Dialled

REFUSED = (
    "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:443: "
    "Failed to connect to remote host: Connection refused"
)
CLOSED = (
    "failed to connect to all addresses; last error: UNAVAILABLE: ipv4:127.0.0.1:7070: "
    "Socket closed"
)
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize(
    ("dialled", "code", "details", "expected"),
    [
        (Dialled("127.0.0.1:7070"), UNAVAILABLE, REFUSED, "nothing listens at '127.0.0.1:7070':"),
        (Dialled("127.0.0.1"), UNAVAILABLE, REFUSED, "names no :PORT, so gRPC dialled 443"),
        (
            Dialled("unix:/run/s.sock"),
            UNAVAILABLE,
            REFUSED,
            "nothing listens at 'unix:/run/s.sock':",
        ),
        (
            Dialled("nohost:1"),
            UNAVAILABLE,
            "errors resolving nohost:1: [field:hostname lookup error:address lookup failed]",
            "the host of 'nohost:1' is not known",
        ),
        (Dialled("h:1"), UNAVAILABLE, CLOSED, "if the runner serves TLS, give root_certificates"),
        (Dialled("h:1", tls=True), UNAVAILABLE, CLOSED, "give certificate_chain and private_key"),
        (
            Dialled("h:1", tls=True, client_certificate=True),
            UNAVAILABLE,
            CLOSED,
            "it may not trust this one",
        ),
        (
            Dialled("h:1", tls=True),
            UNAVAILABLE,
            "Tls handshake failed (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: WRONG_VERSION_NUMBER",
            "leave out root_certificates",
        ),
        (
            Dialled("h:1", tls=True),
            UNAVAILABLE,
            "Tls handshake failed: SSL_ERROR_SSL: CERTIFICATE_VERIFY_FAILED: self signed",
            "a certificate not signed by root_certificates",
        ),
        (
            Dialled("h:1", tls=True),
            UNAVAILABLE,
            "Custom verification check failed: Hostname Verification Check failed.",
            "a certificate for another host",
        ),
        (
            Dialled("h:1"),
            grpc.StatusCode.UNIMPLEMENTED,
            "Method not found!",
            "is it a Stepline runner (not an executor service)",
        ),
    ],
)
def test_the_hint_says_what_to_check(
    dialled: Dialled, code: grpc.StatusCode, details: str, expected: str
) -> None:
    assert expected in dialled.hint(code, details)


@pytest.mark.parametrize(
    ("code", "details"),
    [
        (UNAVAILABLE, "Socket closed"),  # a connection that broke in a call: a runner stopping
        (UNAVAILABLE, "the runner is shutting down"),
        (grpc.StatusCode.UNIMPLEMENTED, "the runner does not schedule runs"),
        (grpc.StatusCode.NOT_FOUND, "no run 'x'"),
    ],
)
def test_no_hint_where_there_is_nothing_to_add(code: grpc.StatusCode, details: str) -> None:
    assert Dialled("h:1").hint(code, details) == ""
    assert Dialled("h:1", tls=True).hint(code, details) == ""


def test_an_address_is_quoted_at_most_100_characters() -> None:
    hint = Dialled("h" * 5000 + ":1").hint(UNAVAILABLE, REFUSED)
    assert len(hint) < 200
