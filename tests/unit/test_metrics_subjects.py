"""The metrics endpoint names a client certificate's subject as gRPC's
x509_subject does (RFC 4514, as `cryptography` writes it), so that one
tls_subject of the auth configuration names it on both ports."""

from __future__ import annotations

import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from stepline.telemetry._metrics import metrics_subject
from tests.support.certificates import _builder


def test_a_subject_reads_as_grpc_writes_it(tmp_path: Path) -> None:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example, Inc. +1"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "ops"),
            x509.NameAttribute(NameOID.COMMON_NAME, "#deployer "),
        ]
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _builder(name, name, key).sign(key, hashes.SHA256())
    path = tmp_path / "cert.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    decoded = ssl._ssl._test_decode_cert(str(path))  # type: ignore[attr-defined]  # getpeercert()'s form

    assert metrics_subject(decoded) == name.rfc4514_string()
    assert metrics_subject(decoded) == "CN=\\#deployer\\ ,OU=ops,O=Example\\, Inc. \\+1,C=DE"
