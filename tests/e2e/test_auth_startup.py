"""The runner's auth options against real processes: a bad configuration is
refused at start-up in one precise line; principals named by TLS client
certificate subject get in with their certificate (signed by the CA the
runner trusts), and a caller without one does not get in at all."""

from __future__ import annotations

import datetime
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from stepline import NotFoundError, PermissionDeniedError, RunnerClient
from stepline.v1 import runner_pb2, runner_pb2_grpc
from tests.support.certificates import self_signed
from tests.support.cli import stepline
from tests.support.cluster import Cluster
from tests.support.processes import refused_start

pytestmark = pytest.mark.asyncio(loop_scope="module")


def principal(**fields: object) -> str:
    entry = {"name": "alice", "token_sha256": "ab" * 32, "roles": {"team-a": "admin"}, **fields}
    return json.dumps({"principals": [entry]})


@pytest.mark.parametrize(
    ("config", "options", "says"),
    [
        (
            principal(token_sha256="my-secret-token"),
            (),
            "--auth-config: {config}: principals[0] (alice): 'token_sha256' must be the 64 hex",
        ),
        (principal(roles={"team-a": "boss"}), (), "roles: team-a: 'boss' is not a role"),
        (
            principal(token_sha256=None, tls_subject="CN=alice"),
            (),
            "names principals by tls_subject (alice): give --tls-cert, --tls-key and "
            "--tls-client-ca",
        ),
        (principal(), ("--auth-token-file", "{config}"), "give --auth-config or --auth-token-file"),
        (principal(), ("--tls-client-ca", "{config}"), "--tls-client-ca needs --tls-cert"),
    ],
)
async def test_a_bad_auth_configuration_is_refused_in_one_line(
    tmp_path: Path, config: str, options: tuple[str, ...], says: str
) -> None:
    path = tmp_path / "auth.json"
    path.write_text(config)
    options = tuple(o.replace("{config}", str(path)) for o in options)
    db = tmp_path / "stepline.db"

    code, stderr = await refused_start(
        "--db", str(db), "--port", "0", "--auth-config", str(path), *options
    )

    text = stderr.decode()
    assert code == 2 and len(text.splitlines()) == 1, text
    assert says.replace("{config}", str(path)) in text
    assert "my-secret-token" not in text


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass(frozen=True)
class Issued:
    cert: bytes
    key: bytes


def issue(
    ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, subject: x509.Name
) -> Issued:
    """A client certificate for `subject`, signed by the CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def certificate_authority(name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


@dataclass
class Mutual:
    address: str
    server_cert: bytes
    deployer: Issued  # named by the configuration
    stranger: Issued  # signed by the same CA, named by nobody
    outsider: Issued  # signed by another CA


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def mutual(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Mutual]:
    tmp = tmp_path_factory.mktemp("mtls")
    server_cert, server_key = self_signed(tmp)
    ca_cert, ca_key = certificate_authority("clients")
    other_cert, other_key = certificate_authority("elsewhere")
    deployer_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example"),
            x509.NameAttribute(NameOID.COMMON_NAME, "deployer"),
        ]
    )
    stranger_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stranger")])
    ca_file = tmp / "clients-ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    config = tmp / "auth.yaml"
    config.write_text(
        "principals:\n"
        "  - name: deployer\n"
        f"    tls_subject: {deployer_name.rfc4514_string()!r}\n"
        "    roles: {team-a: reader}\n"
    )
    options = [
        "--tls-cert", str(server_cert), "--tls-key", str(server_key),
        "--tls-client-ca", str(ca_file), "--auth-config", str(config),
    ]  # fmt: skip
    cluster = await Cluster.start(tmp, runner_options=options)
    try:
        yield Mutual(
            cluster.runner.address,
            server_cert.read_bytes(),
            issue(ca_cert, ca_key, deployer_name),
            issue(ca_cert, ca_key, stranger_name),
            issue(other_cert, other_key, deployer_name),
        )
    finally:
        await cluster.close()


async def get_run(
    mutual: Mutual, client: Issued | None, namespace: str = "team-a"
) -> grpc.StatusCode:
    credentials = grpc.ssl_channel_credentials(
        mutual.server_cert,
        client.key if client else None,
        client.cert if client else None,
    )
    async with grpc.aio.secure_channel(mutual.address, credentials) as channel:
        stub: runner_pb2_grpc.RunnerServiceAsyncStub = runner_pb2_grpc.RunnerServiceStub(channel)
        request = runner_pb2.GetRunRequest(run_id="nope", namespace=namespace)
        try:
            await stub.GetRun(request, timeout=10)
        except grpc.aio.AioRpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


async def test_a_client_certificate_names_its_principal(mutual: Mutual) -> None:
    assert await get_run(mutual, mutual.deployer) == grpc.StatusCode.NOT_FOUND  # let in
    assert await get_run(mutual, mutual.deployer, "team-b") == grpc.StatusCode.PERMISSION_DENIED
    assert await get_run(mutual, mutual.stranger) == grpc.StatusCode.UNAUTHENTICATED


async def test_no_certificate_or_one_of_another_ca_gets_no_connection(mutual: Mutual) -> None:
    assert await get_run(mutual, None) == grpc.StatusCode.UNAVAILABLE
    assert await get_run(mutual, mutual.outsider) == grpc.StatusCode.UNAVAILABLE


async def test_the_sdk_and_the_command_present_a_client_certificate(
    mutual: Mutual, tmp_path: Path
) -> None:
    async with RunnerClient(
        mutual.address,
        root_certificates=mutual.server_cert,
        certificate_chain=mutual.deployer.cert,
        private_key=mutual.deployer.key,
        namespace="team-a",
    ) as client:
        with pytest.raises(NotFoundError):  # let in, as deployer
            await client.get_run("nope")
        with pytest.raises(PermissionDeniedError):  # a reader
            await client.cancel_run("nope")
    files = {"ca": mutual.server_cert, "cert": mutual.deployer.cert, "key": mutual.deployer.key}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    options = ["--ca-file", str(tmp_path / "ca"), "--namespace", "team-a"]
    certificate = ["--cert-file", str(tmp_path / "cert"), "--key-file", str(tmp_path / "key")]

    listed = await stepline(*options, *certificate, "run", "list", "--json", address=mutual.address)
    halves = await stepline(
        *options, certificate[0], certificate[1], "run", "list", address=mutual.address
    )

    assert listed.code == 0 and listed.json() == [], listed.stderr
    assert halves.code == 2 and "--cert-file and --key-file go together" in halves.stderr
