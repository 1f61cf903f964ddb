"""`ServiceSecurity`: the files an executor service is served with, and the
token check, which answers UNAUTHENTICATED to calls of every shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]

from stepline import CredentialsError, ServiceSecurity
from stepline.service_security import RequireToken, exposure_warning
from tests.support.certificates import Authority, authority_fixture

ca = authority_fixture()


def test_from_environment_reads_the_files_it_names(ca: Authority, tmp_path: Path) -> None:
    cert, key = ca.server("svc")
    token = tmp_path / "token"
    token.write_text("abc\n")
    env = {
        "STEPLINE_EXECUTOR_TLS_CERT": str(cert),
        "STEPLINE_EXECUTOR_TLS_KEY": str(key),
        "STEPLINE_EXECUTOR_CLIENT_CA": str(ca.ca),
        "STEPLINE_EXECUTOR_TOKEN_FILE": str(token),
    }

    security = ServiceSecurity.from_environment(env)

    assert security.tls_cert == cert.read_bytes() and security.tls_key == key.read_bytes()
    assert security.client_ca == ca.ca.read_bytes() and security.token == "abc"
    assert security.summary() == "TLS, client certificate and token required"
    assert ServiceSecurity.from_environment({}).summary() == "plaintext"
    assert ServiceSecurity.from_environment({}).server_credentials() is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STEPLINE_EXECUTOR_TLS_CERT": "{cert}"}, "go together"),
        ({"STEPLINE_EXECUTOR_CLIENT_CA": "{ca}"}, "requiring client certificates needs TLS"),
        ({"STEPLINE_EXECUTOR_TOKEN_FILE": "{token}"}, "requiring a token needs TLS"),
        (
            {"STEPLINE_EXECUTOR_TLS_CERT": "{cert}", "STEPLINE_EXECUTOR_TLS_KEY": "{other_key}"},
            "STEPLINE_EXECUTOR_TLS_CERT/STEPLINE_EXECUTOR_TLS_KEY: the private key",
        ),
        (
            {
                "STEPLINE_EXECUTOR_TLS_CERT": "{cert}",
                "STEPLINE_EXECUTOR_TLS_KEY": "{key}",
                "STEPLINE_EXECUTOR_CLIENT_CA": "{missing}",
            },
            "STEPLINE_EXECUTOR_CLIENT_CA: cannot read",
        ),
        (
            {
                "STEPLINE_EXECUTOR_TLS_CERT": "{cert}",
                "STEPLINE_EXECUTOR_TLS_KEY": "{key}",
                "STEPLINE_EXECUTOR_CLIENT_CA": "{key}",
            },
            "STEPLINE_EXECUTOR_CLIENT_CA: ",
        ),
    ],
)
def test_unusable_settings_are_refused_naming_the_variable(
    ca: Authority, tmp_path: Path, env: dict[str, str], message: str
) -> None:
    cert, key = ca.server("svc")
    _, other_key = ca.server("other")
    token = tmp_path / "token"
    token.write_text("abc")
    files = {"cert": cert, "key": key, "other_key": other_key, "ca": ca.ca, "token": token}
    files["missing"] = tmp_path / "missing.pem"

    with pytest.raises(CredentialsError) as refused:
        ServiceSecurity.from_environment({k: v.format(**files) for k, v in env.items()})

    assert message in str(refused.value)


# --- the token check, on every shape of call ------------------------------------------


def _identity(data: bytes) -> bytes:
    return data


async def _unary(request: bytes, context: Any) -> bytes:
    return b"ok"


async def _stream_out(request: bytes, context: Any) -> AsyncIterator[bytes]:
    yield b"ok"


async def _stream_in(requests: AsyncIterator[bytes], context: Any) -> bytes:
    return b"ok"


async def _bidi(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
    yield b"ok"


HANDLERS = {
    "UnaryUnary": grpc.unary_unary_rpc_method_handler(_unary, _identity, _identity),
    "UnaryStream": grpc.unary_stream_rpc_method_handler(_stream_out, _identity, _identity),
    "StreamUnary": grpc.stream_unary_rpc_method_handler(_stream_in, _identity, _identity),
    "StreamStream": grpc.stream_stream_rpc_method_handler(_bidi, _identity, _identity),
}


async def _shapes(channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...]) -> list[Any]:
    """The status of one call of each shape."""
    codes = []
    for shape in HANDLERS:
        method = f"/t.S/{shape}"
        try:
            if shape == "UnaryUnary":
                await channel.unary_unary(method, _identity, _identity)(b"x", metadata=metadata)
            elif shape == "UnaryStream":
                call = channel.unary_stream(method, _identity, _identity)(b"x", metadata=metadata)
                await _first(call)
            elif shape == "StreamUnary":
                await channel.stream_unary(method, _identity, _identity)(
                    iter([b"x"]), metadata=metadata
                )
            else:
                bidi = channel.stream_stream(method, _identity, _identity)
                await _first(bidi(iter([b"x"]), metadata=metadata))
            codes.append(grpc.StatusCode.OK)
        except grpc.aio.AioRpcError as exc:
            codes.append(exc.code())
    return codes


async def _first(call: Any) -> Any:
    async for item in call:
        return item
    return None


async def test_calls_of_every_shape_need_the_token_and_health_stays_open() -> None:
    server = grpc.aio.server(interceptors=[RequireToken("t0k")])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("t.S", HANDLERS)])
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            without = await _shapes(channel, ())
            wrong = await _shapes(channel, (("authorization", "Bearer t0"),))
            right = await _shapes(channel, (("authorization", "Bearer t0k"),))
            probe = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    finally:
        await server.stop(None)

    assert without == [grpc.StatusCode.UNAUTHENTICATED] * 4
    assert wrong == [grpc.StatusCode.UNAUTHENTICATED] * 4
    assert right == [grpc.StatusCode.OK] * 4
    assert probe.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_no_warning_on_loopback(host: str) -> None:
    assert exposure_warning(host, ServiceSecurity()) is None


def test_a_service_open_to_anyone_beyond_loopback_is_warned_of(ca: Authority) -> None:
    cert, key = ca.server("svc")
    tls = ServiceSecurity.from_files(tls_cert=cert, tls_key=key)
    guarded = ServiceSecurity.from_files(tls_cert=cert, tls_key=key, client_ca=ca.ca)

    plaintext = exposure_warning("0.0.0.0", ServiceSecurity())
    anyone = exposure_warning("10.0.0.5", tls)

    assert plaintext is not None and "serving on 0.0.0.0 in plaintext" in plaintext
    assert anyone is not None and "without client authentication" in anyone
    assert "STEPLINE_EXECUTOR_CLIENT_CA" in anyone and "STEPLINE_EXECUTOR_TOKEN_FILE" in anyone
    assert exposure_warning("0.0.0.0", guarded) is None


@pytest.mark.parametrize(
    ("sent", "accepted"),
    [
        ("Bearer abc", True),
        (b"Bearer abc", True),
        ("Bearer abcd", False),
        ("Bearer ab", False),
        ("bearer abc", False),
        ("abc", False),
        ("", False),
        (None, False),
    ],
)
def test_only_the_token_is_accepted(sent: str | bytes | None, accepted: bool) -> None:
    assert ServiceSecurity(b"cert", b"key", token="abc").accepts(sent) is accepted
    assert ServiceSecurity().accepts(sent)  # no token: anyone
