"""The auth configuration file: what it accepts, the precise refusal of each
fault, and how a call's credentials find (or do not find) a principal."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from stepline_runner.api.auth import (
    AuthConfig,
    Role,
    Unauthenticated,
    authorize,
    identify,
    may_read_metrics,
    may_start_runs,
)
from stepline_runner.api.auth_config import AuthConfigError, load_auth_config, parse_auth_config

DIGEST = hashlib.sha256(b"tok-alice").hexdigest()


def alice(**fields: Any) -> dict[str, Any]:
    return {"name": "alice", "token_sha256": DIGEST, "roles": {"team-a": "operator"}, **fields}


def config(*principals: dict[str, Any]) -> dict[str, Any]:
    return {"principals": list(principals)}


def test_a_good_file_in_yaml_names_principals_by_token_and_by_subject(tmp_path: Path) -> None:
    path = tmp_path / "auth.yaml"
    path.write_text(
        f"""
principals:
  - name: alice
    token_sha256: {DIGEST.upper()}
    roles: {{team-a: operator, team-b: reader}}
  - name: deployer
    tls_subject: "CN=deployer,O=Example"
    roles: {{"*": admin}}
"""
    )
    loaded = load_auth_config(path)
    ((digest, principal),) = loaded.tokens
    assert digest == hashlib.sha256(b"tok-alice").digest()
    assert principal.role("team-a") == Role.OPERATOR and principal.role("team-c") is None
    assert loaded.subjects["CN=deployer,O=Example"].role("anything") == Role.ADMIN
    assert loaded.needs_client_certificates


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ([], "expected a mapping with a 'principals' list"),
        ({"principals": []}, "'principals' must be a non-empty list"),
        ({"principals": [], "extra": 1}, "unknown key 'extra'"),
        ({"principals": ["alice"]}, "principals[0]: expected a mapping"),
        (config(alice(name="")), "principals[0]: 'name' must be 1-64 letters"),
        (config(alice(colour="red")), "principals[0] (alice): unknown key 'colour'"),
        (config(alice(), alice()), "principals[1] (alice): another principal has that name"),
        (
            config(alice(), alice(name="bob")),
            "principals[1] (bob): the same token_sha256 as 'alice'",
        ),
        (config(alice(tls_subject="CN=a")), "give one of 'token_sha256' and 'tls_subject'"),
        (config(alice(token_sha256=None)), "give one of 'token_sha256' and 'tls_subject'"),
        (config(alice(token_sha256="tok-alice")), "must be the 64 hex digits"),
        (config(alice(token_sha256=12)), "must be the 64 hex digits"),
        (
            config({"name": "d", "tls_subject": "CN=\u00e9", "roles": {"*": "admin"}}),
            "(d): 'tls_subject' must be a certificate subject",
        ),
        (config(alice(roles={})), "'roles' must map namespaces (or '*')"),
        (config(alice(roles=["admin"])), "'roles' must map namespaces (or '*')"),
        (config(alice(roles={"Team A": "admin"})), "roles: 'Team A' is not a namespace"),
        (config(alice(roles={"team-a": "owner"})), "roles: team-a: 'owner' is not a role"),
        (config(alice(roles={"team-a": ["admin"]})), "is not a role; use reader, operator"),
    ],
)
def test_each_fault_is_refused_with_where_and_why(document: Any, says: str) -> None:
    with pytest.raises(AuthConfigError) as refused:
        parse_auth_config(document, "auth.yaml")
    assert says in str(refused.value)
    assert str(refused.value).startswith("auth.yaml")
    assert "tok-alice" not in str(refused.value), "a token pasted by mistake is never echoed"


def test_a_file_that_is_not_yaml_or_too_big_or_missing(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("principals: [\n  - {name: alice")
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (1024 * 1024 + 1))
    for path, says in [
        (broken, "is not YAML or JSON (line 2)"),
        (big, "is over 1048576 bytes"),
        (tmp_path / "missing.yaml", "cannot read"),
    ]:
        with pytest.raises(AuthConfigError) as refused:
            load_auth_config(path)
        assert says in str(refused.value) and str(path) in str(refused.value)


KNOWN = parse_auth_config(
    config(alice(), {"name": "ci", "tls_subject": "CN=ci", "roles": {"*": "reader"}}), "x"
)


def test_credentials_find_their_principal() -> None:
    by_token = identify(KNOWN, [("authorization", "Bearer tok-alice")], [])
    by_lowercase_scheme = identify(KNOWN, [("authorization", "bearer tok-alice")], [])
    by_subject = identify(KNOWN, [], [b"CN=ci"])
    assert (by_token.name, by_lowercase_scheme.name, by_subject.name) == ("alice", "alice", "ci")
    # A token wins over a certificate: it names who acts.
    assert identify(KNOWN, [("authorization", "Bearer tok-alice")], [b"CN=ci"]).name == "alice"


@pytest.mark.parametrize(
    ("metadata", "subjects", "says"),
    [
        ([], [], "needs a token (or a client certificate it knows)"),
        ([("authorization", "Bearer wrong")], [], "names no principal"),
        ([("authorization", "tok-alice")], [], "must be 'Bearer <token>'"),
        ([("authorization", "Bearer ")], [], "must be 'Bearer <token>'"),
        ([("authorization", "Bearer " + "x" * 5000)], [], "must be 'Bearer <token>'"),
        ([("authorization", "Bearer tok-alice")] * 2, [], "send one 'authorization'"),
        ([], [b"CN=stranger"], "subject names no principal"),
    ],
)
def test_unknown_credentials_are_refused(
    metadata: list[tuple[str, str]], subjects: list[bytes], says: str
) -> None:
    with pytest.raises(Unauthenticated) as refused:
        identify(KNOWN, metadata, subjects)
    assert says in str(refused.value)
    assert "tok-alice" not in str(refused.value)


def test_the_metrics_endpoint_s_refusals_name_the_http_header() -> None:
    """A scrape is an HTTP request: its refusals say what header to send,
    not gRPC metadata."""
    check = may_read_metrics(KNOWN)
    missing, malformed = check(None, None), check("tok-alice", None)
    assert missing is not None and missing.status == 401
    assert missing.message.endswith("send an 'Authorization: Bearer <token>' header")
    assert malformed is not None and malformed.status == 401
    assert malformed.message == "the 'Authorization' header must be 'Bearer <token>'"


def test_roles_allow_what_they_include_and_the_open_runner_allows_everything() -> None:
    ((_, operator),) = KNOWN.tokens
    assert authorize(operator, "CancelRun", "team-a").principal == "alice"
    for method, namespace in [("RegisterWorkflow", "team-a"), ("GetRun", "team-b")]:
        with pytest.raises(PermissionError):
            authorize(operator, method, namespace)
    with pytest.raises(PermissionError, match="not open to any role"):
        authorize(operator, "SomethingNew", "team-a")
    anyone = identify(AuthConfig.open(), [], [])
    assert authorize(anyone, "MoveRuns", "whatever").principal == ""
    ((_, token),) = AuthConfig.single_token("t").tokens
    assert token.role("any-namespace") == Role.ADMIN


def test_a_schedule_s_principal_has_a_caller_s_rights_as_the_configuration_is_now() -> None:
    """Review S2: a name the configuration does not know ("" too: created on
    a runner without auth) has the rights of a caller without credentials."""
    strict = may_start_runs(parse_auth_config(config(alice()), "auth.yaml"))
    anyone = may_start_runs(AuthConfig.open())

    assert strict("alice", "team-a") == ""
    assert strict("alice", "team-b") == (
        "StartRun needs the operator role in namespace 'team-b'; "
        "principal 'alice' has no role there"
    )
    assert strict("", "team-a").startswith("the schedule names no principal")
    assert strict("b" * 500, "team-a").startswith(f"the principal '{'b' * 64}' is not in")
    assert anyone("", "prod") == anyone("alice", "prod") == ""
