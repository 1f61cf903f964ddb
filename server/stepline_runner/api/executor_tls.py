"""How the runner dials executor services: over TLS where its operator said
so (`--executor-tls`), presenting a client certificate and/or a token there;
plaintext elsewhere, which the allow-list permits only to local endpoints.

Credentials go only where the operator's rules point. A registration chooses
an endpoint, never what is sent to it: the profile is the first whose rules
match the endpoint, and before the runner's client certificate or token
leaves, the service must prove it holds a certificate from the profile's CA
(the system's roots when none is given) for the name it is dialled by. gRPC
sends a token on a TLS channel only.

One `--executor-tls` is `RULES [ca=FILE] [cert=FILE key=FILE] [token=FILE]`:
RULES is `*` (every endpoint) or rules in the allow-list's syntax separated by
commas (`10.0.0.0/8:7000-7099,executors.internal:443`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from stepline.credentials import (
    CredentialsError,
    channel_credentials,
    dial,
    read_certificates,
    read_key_pair,
    read_token,
)

from ..engine.allowlist import Rule, RuleError, parse_endpoint, parse_rule

EVERY_ENDPOINT = "*"
_KEYS = ("ca", "cert", "key", "token")


@dataclass(frozen=True)
class ExecutorTls:
    """One profile: the endpoints it covers (`rules`; None: every one), the
    CA certificates their certificates must chain to (None: the system's
    roots), and what the runner presents: a client certificate, a token."""

    rules: tuple[Rule, ...] | None
    root_certificates: bytes | None = None
    certificate_chain: bytes | None = None
    private_key: bytes | None = None
    token: str | None = None

    def covers(self, target: str) -> bool:
        if self.rules is None:
            return True
        endpoint = parse_endpoint(target)
        return endpoint is not None and any(rule.allows(endpoint) for rule in self.rules)

    def credentials(self) -> grpc.ChannelCredentials:
        return channel_credentials(
            self.root_certificates, self.certificate_chain, self.private_key, self.token
        )


def parse_executor_tls(words: Sequence[str]) -> ExecutorTls:
    """A profile from the words of one `--executor-tls`, its files read and
    checked; `CredentialsError` says what is wrong, naming the option."""
    if not words:
        raise CredentialsError("--executor-tls needs RULES, then ca=, cert=, key=, token= files")
    spec, *options = words
    flag = f"--executor-tls {spec[:80]}"
    files: dict[str, str] = {}
    for option in options:
        name, equals, value = option.partition("=")
        if not equals or name not in _KEYS or not value:
            raise CredentialsError(
                f"{flag}: {option[:40]!r} is not one of ca=FILE, cert=FILE, key=FILE, token=FILE"
            )
        if name in files:
            raise CredentialsError(f"{flag}: {name}= is given twice")
        files[name] = value
    if ("cert" in files) != ("key" in files):
        raise CredentialsError(f"{flag}: cert= and key= go together (the client certificate)")
    chain, private_key = None, None
    if "cert" in files:
        chain, private_key = read_key_pair(files["cert"], files["key"], f"{flag} cert/key")
    return ExecutorTls(
        rules=_rules(spec, flag),
        root_certificates=read_certificates(files["ca"], f"{flag} ca") if "ca" in files else None,
        certificate_chain=chain,
        private_key=private_key,
        token=read_token(files["token"], f"{flag} token") if "token" in files else None,
    )


def _rules(spec: str, flag: str) -> tuple[Rule, ...] | None:
    if spec == EVERY_ENDPOINT:
        return None
    try:
        return tuple(parse_rule(text) for text in spec.split(","))
    except RuleError as exc:
        raise CredentialsError(f"{flag}: {exc}") from None


class ExecutorChannels:
    """Opens the channel to an executor endpoint as the profiles say."""

    def __init__(self, profiles: Sequence[ExecutorTls] = ()) -> None:
        self._profiles = tuple(profiles)

    def profile(self, target: str) -> ExecutorTls | None:
        """The first profile covering `target`; None: it is dialled in plaintext."""
        return next((p for p in self._profiles if p.covers(target)), None)

    def secured(self, target: str) -> bool:
        return self.profile(target) is not None

    def open(
        self, target: str, options: Sequence[tuple[str, Any]], interceptors: Sequence[Any] | None
    ) -> grpc.aio.Channel:
        profile = self.profile(target)
        credentials = profile.credentials() if profile is not None else None
        return dial(target, credentials, options=options, interceptors=interceptors)
