"""The runner's auth configuration file (`--auth-config`), YAML or JSON::

    principals:
      - name: alice                 # recorded on the events of what she does
        token_sha256: 2bd806c9...   # sha256 of her bearer token, never the token
        roles: {team-a: operator, team-b: reader}
      - name: deployer
        tls_subject: "CN=deployer,O=Example"   # a client certificate's subject
        roles: {"*": admin}         # "*": every namespace

Roles: reader, operator, admin. Every fault is refused at start-up with the
file, the principal and the field it is about.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ..namespaces import valid_namespace
from .auth import ANY_NAMESPACE, AuthConfig, Principal, Role

MAX_BYTES = 1024 * 1024
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
DIGEST = re.compile(r"^[0-9a-f]{64}$")
SUBJECT = re.compile(r"^[ -~]{1,1024}$")
ROLES = {r.name.lower(): r for r in Role}
PRINCIPAL_KEYS = ("name", "token_sha256", "tls_subject", "roles")


class AuthConfigError(ValueError):
    """The file cannot be used; the message says where and why."""


def load_auth_config(path: Path) -> AuthConfig:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise AuthConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise AuthConfigError(f"{path} is over {MAX_BYTES} bytes; is it the right file?")
    try:
        document = yaml.safe_load(data.decode())
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise AuthConfigError(f"{path} is not YAML or JSON{line}") from None
    return parse_auth_config(document, str(path))


def parse_auth_config(document: Any, source: str) -> AuthConfig:
    if not isinstance(document, Mapping) or "principals" not in document:
        raise AuthConfigError(f"{source}: expected a mapping with a 'principals' list")
    _no_other_keys(document, ("principals",), source)
    entries = document["principals"]
    if not isinstance(entries, list) or not entries:
        raise AuthConfigError(f"{source}: 'principals' must be a non-empty list")
    tokens: dict[str, Principal] = {}
    subjects: dict[str, Principal] = {}
    names: set[str] = set()
    for index, entry in enumerate(entries):
        where = f"{source}: principals[{index}]"
        principal, token, subject = _principal(entry, where)
        where = f"{where} ({principal.name})"
        if principal.name in names:
            raise AuthConfigError(f"{where}: another principal has that name")
        names.add(principal.name)
        if token is not None:
            if token in tokens:
                raise AuthConfigError(
                    f"{where}: the same token_sha256 as {tokens[token].name!r}; "
                    "a token names one principal"
                )
            tokens[token] = principal
        if subject is not None:
            if subject in subjects:
                raise AuthConfigError(
                    f"{where}: the same tls_subject as {subjects[subject].name!r}"
                )
            subjects[subject] = principal
    return AuthConfig(
        tokens=tuple((bytes.fromhex(t), p) for t, p in tokens.items()), subjects=subjects
    )


def _principal(entry: Any, where: str) -> tuple[Principal, str | None, str | None]:
    if not isinstance(entry, Mapping):
        raise AuthConfigError(f"{where}: expected a mapping with {', '.join(PRINCIPAL_KEYS)}")
    name = entry.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise AuthConfigError(
            f"{where}: 'name' must be 1-64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    where = f"{where} ({name})"
    _no_other_keys(entry, PRINCIPAL_KEYS, where)
    token, subject = entry.get("token_sha256"), entry.get("tls_subject")
    if (token is None) == (subject is None):
        raise AuthConfigError(f"{where}: give one of 'token_sha256' and 'tls_subject'")
    if token is not None:
        token = _digest(token, where)
    if subject is not None and (not isinstance(subject, str) or not SUBJECT.fullmatch(subject)):
        raise AuthConfigError(
            f"{where}: 'tls_subject' must be a certificate subject as the runner reads it, "
            "e.g. 'CN=deployer,O=Example' (1-1024 printable ASCII characters)"
        )
    return Principal(name, _roles(entry.get("roles"), where)), token, subject


def _digest(value: Any, where: str) -> str:
    text = value.lower() if isinstance(value, str) else ""
    if not DIGEST.fullmatch(text):
        # Never quote it: it may be the token itself, pasted by mistake.
        raise AuthConfigError(
            f"{where}: 'token_sha256' must be the 64 hex digits of the token's SHA-256 "
            '(printf %s "$TOKEN" | sha256sum), not the token'
        )
    return text


def _roles(value: Any, where: str) -> dict[str, Role]:
    if not isinstance(value, Mapping) or not value:
        raise AuthConfigError(
            f"{where}: 'roles' must map namespaces (or '*') to reader, operator or admin"
        )
    roles: dict[str, Role] = {}
    for namespace, role in value.items():
        if not isinstance(namespace, str) or not (
            namespace == ANY_NAMESPACE or valid_namespace(namespace)
        ):
            raise AuthConfigError(
                f"{where}: roles: {str(namespace)[:70]!r} is not a namespace (1-63 lowercase "
                "letters, digits or '-', starting and ending with a letter or digit) nor '*'"
            )
        if not isinstance(role, str) or role not in ROLES:
            raise AuthConfigError(
                f"{where}: roles: {namespace}: {str(role)[:40]!r} is not a role; "
                "use reader, operator or admin"
            )
        roles[namespace] = ROLES[role]
    return roles


def _no_other_keys(mapping: Mapping[Any, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise AuthConfigError(
                f"{where}: unknown key {str(key)[:40]!r}; the keys are {', '.join(allowed)}"
            )
