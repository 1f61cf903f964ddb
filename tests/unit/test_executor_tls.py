"""Runner -> executor TLS: `--executor-tls` profiles (parsing, checks of the
files, which endpoint gets which), and plaintext refused beyond loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepline.credentials import CredentialsError
from stepline_runner.api.executor_tls import ExecutorChannels, parse_executor_tls
from stepline_runner.engine.allowlist import AllowList
from tests.support.certificates import Authority, authority_fixture

ca = authority_fixture()


def test_a_profile_reads_its_files(ca: Authority, tmp_path: Path) -> None:
    cert, key = ca.client("runner")
    token = tmp_path / "token"
    token.write_text("  t0ken\n")

    profile = parse_executor_tls(
        [
            "10.0.0.0/8:7000-7099,executors.internal:443",
            f"ca={ca.ca}",
            f"cert={cert}",
            f"key={key}",
            f"token={token}",
        ]
    )

    assert profile.root_certificates == ca.ca.read_bytes()
    assert (profile.certificate_chain, profile.private_key) == (cert.read_bytes(), key.read_bytes())
    assert profile.token == "t0ken"
    assert profile.covers("10.1.2.3:7050") and profile.covers("executors.internal:443")
    assert not profile.covers("10.1.2.3:8000") and not profile.covers("executors.internal:80")
    assert not profile.covers("executors.internal.evil.com:443")


def test_the_first_covering_profile_applies_and_star_covers_all(ca: Authority) -> None:
    near = parse_executor_tls(["127.0.0.1:7000", f"ca={ca.ca}"])
    every = parse_executor_tls(["*"])
    channels = ExecutorChannels([near, every])

    assert channels.profile("127.0.0.1:7000") is near
    assert channels.profile("10.9.9.9:1") is every
    assert channels.profile("unix:/run/x.sock") is every
    assert every.root_certificates is None, "the system's roots"
    assert ExecutorChannels([near]).profile("127.0.0.1:7001") is None


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["127.0.0.1", "ca=/nonexistent/ca.pem"], "ca: cannot read /nonexistent/ca.pem"),
        (["127.0.0.1", "ca={key}"], "holds no usable PEM certificate"),
        (["127.0.0.1", "cert={cert}", "key={other_key}"], "does not belong to the certificate"),
        (["127.0.0.1", "cert={cert}"], "cert= and key= go together"),
        (["127.0.0.1", "token={empty}"], "is empty"),
        (["127.0.0.1", "token={spaced}"], "one line of printable ASCII"),
        (["127.0.0.1", "ca={ca}", "ca={ca}"], "ca= is given twice"),
        (["127.0.0.1", "password=x"], "'password=x' is not one of ca=FILE"),
        (["127.0.0.1", "ca="], "'ca=' is not one of"),
        (["10.0.0.0/8:0"], "ports are 1-65535"),
        ([], "needs RULES"),
    ],
)
def test_an_unusable_profile_is_refused_saying_why(
    ca: Authority, tmp_path: Path, words: list[str], message: str
) -> None:
    cert, key = ca.client("runner")
    _, other_key = ca.client("other")
    (tmp_path / "empty").write_text("\n")
    (tmp_path / "spaced").write_text("two words")
    files = {"cert": cert, "key": key, "other_key": other_key, "ca": ca.ca}
    files |= {"empty": tmp_path / "empty", "spaced": tmp_path / "spaced"}

    with pytest.raises(CredentialsError) as refused:
        parse_executor_tls([w.format(**files) for w in words])

    assert message in str(refused.value)
    if words:
        assert str(refused.value).startswith(f"--executor-tls {words[0]}")


def test_an_encrypted_key_is_refused_rather_than_prompted_for(
    ca: Authority, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization

    cert, key = ca.client("runner")
    loaded = serialization.load_pem_private_key(key.read_bytes(), None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        loaded.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )

    with pytest.raises(CredentialsError, match="is encrypted; give it unencrypted"):
        parse_executor_tls(["*", f"cert={cert}", f"key={encrypted}"])


@pytest.mark.parametrize(
    "endpoint",
    ["127.0.0.1:7000", "127.8.0.1:1", "[::1]:7000", "localhost:7000", "unix:/run/s.sock"],
)
def test_plaintext_is_fine_on_this_machine(endpoint: str) -> None:
    assert AllowList.of().plaintext_refusal(endpoint) is None


@pytest.mark.parametrize(
    "endpoint",
    [
        "10.0.0.5:7000",
        "0.0.0.0:7000",
        "[::ffff:127.0.0.1]:7000",
        "localhost.evil.com:7000",
        "[fd00::1]:443",
        "executors.internal:443",
    ],
)
def test_plaintext_beyond_loopback_is_refused_unless_secured(endpoint: str) -> None:
    plain = AllowList.of()
    secured = AllowList(plain.rules, secured=lambda target: target == endpoint)

    refusal = plain.plaintext_refusal(endpoint)

    assert refusal is not None
    assert f"{endpoint!r} would be dialled in plaintext" in refusal
    assert "--executor-tls" in refusal
    assert secured.plaintext_refusal(endpoint) is None
