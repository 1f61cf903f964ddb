"""Which executor endpoints the runner may dial: a registration names them,
so without a list any client could make the runner connect anywhere (SSRF).

A rule is one of
- an IP address or network, with an optional port or port range:
  `127.0.0.0/8`, `10.1.2.3:7000`, `10.0.0.0/8:7000-7099`, `[::1]:7000`, `::1`;
- a host name, matched as written (never resolved to match a network rule):
  `localhost`, `executors.internal:443`;
- `unix:` and a socket path, or a directory ending in `/` for every socket
  under it: `unix:/run/stepline/`.
The default is loopback only: `127.0.0.0/8`, `::1` and `localhost`, any port.
"""

from __future__ import annotations

import ipaddress
import posixpath
from collections.abc import Callable
from dataclasses import dataclass

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_RULES = ("127.0.0.0/8", "::1", "localhost")


class RuleError(ValueError):
    """A rule that does not parse; the message says what is wrong with it."""


@dataclass(frozen=True)
class Endpoint:
    """An endpoint as the runner would dial it: host and port, or a unix path."""

    host: str = ""
    port: int = 0
    unix_path: str = ""


@dataclass(frozen=True)
class Rule:
    text: str
    network: IpNetwork | None = None
    host: str = ""
    ports: range | None = None  # None: any port
    unix_path: str = ""  # ending in "/": every socket under that directory

    def allows(self, endpoint: Endpoint) -> bool:
        if endpoint.unix_path or self.unix_path:
            if not (endpoint.unix_path and self.unix_path):
                return False
            if self.unix_path.endswith("/"):
                return endpoint.unix_path.startswith(self.unix_path)
            return endpoint.unix_path == self.unix_path
        if self.ports is not None and endpoint.port not in self.ports:
            return False
        if self.network is not None:
            address = _ip(endpoint.host)
            return address is not None and address in self.network
        return endpoint.host.lower() == self.host


def parse_rule(text: str) -> Rule:
    """A rule from its text; `RuleError` says why one does not parse."""
    if text.startswith("unix:"):
        path = text[len("unix:") :]
        if not path.startswith("/") or _normalised(path) != path:
            raise RuleError(f"{text[:80]!r}: a unix rule is unix: and an absolute, normal path")
        return Rule(text, unix_path=path)
    host, ports = _split_port(text, rule=True)
    spec = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return Rule(text, network=ipaddress.ip_network(spec, strict=False), ports=ports)
    except ValueError:
        pass
    if not spec or not all(c.isalnum() or c in "-." for c in spec):
        raise RuleError(f"{text[:80]!r}: not an IP address, network, host name or unix: path")
    return Rule(text, host=spec.lower(), ports=ports)


def parse_endpoint(text: str) -> Endpoint | None:
    """The endpoint a target names, or None for one the runner does not dial
    (another gRPC scheme, no port, a relative or unnormalised unix path)."""
    if text.startswith("unix:"):
        path = text[len("unix:") :]
        if path.startswith("//"):  # unix:///abs/path
            path = path[2:]
        if not path.startswith("/") or _normalised(path) != path:
            return None
        return Endpoint(unix_path=path)
    try:
        host, ports = _split_port(text, rule=False)
    except RuleError:
        return None
    if ports is None or not host:
        return None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not all(c.isalnum() or c in "-.:" for c in host):
        return None
    return Endpoint(host=host.lower(), port=ports.start)


def is_local(endpoint: Endpoint) -> bool:
    """A unix socket or a loopback address: traffic that never leaves the machine."""
    if endpoint.unix_path:
        return True
    address = _ip(endpoint.host)
    return endpoint.host == "localhost" if address is None else address.is_loopback


def _never(target: str) -> bool:
    return False


@dataclass(frozen=True)
class AllowList:
    rules: tuple[Rule, ...]
    # Whether the runner dials an endpoint over TLS (the gRPC layer knows);
    # any other is plaintext, allowed to local endpoints only.
    secured: Callable[[str], bool] = _never

    @classmethod
    def of(cls, texts: tuple[str, ...] | list[str] = DEFAULT_RULES) -> AllowList:
        return cls(tuple(parse_rule(t) for t in texts))

    def refusal(self, target: str) -> str | None:
        """None when the runner may dial `target`; else why not, naming the rules."""
        endpoint = parse_endpoint(target)
        listed = ", ".join(r.text for r in self.rules) or "none"
        if endpoint is None:
            return f"endpoint {target[:80]!r} is not host:port, [ipv6]:port or unix:/absolute/path"
        if any(rule.allows(endpoint) for rule in self.rules):
            return None
        return (
            f"endpoint {target[:80]!r} matches no rule of the runner's executor allow-list "
            f"({listed}); its operator adds one with --allow-executors"
        )

    def plaintext_refusal(self, target: str) -> str | None:
        """None unless the runner would dial `target` in plaintext beyond this
        machine (where anyone on the way could read and change the calls)."""
        endpoint = parse_endpoint(target)
        if endpoint is None or is_local(endpoint) or self.secured(target):
            return None
        return (
            f"endpoint {target[:80]!r} would be dialled in plaintext, which the runner does "
            "only for loopback and unix: endpoints; its operator covers it with an "
            "--executor-tls rule (TLS, with the runner's client certificate or token)"
        )


def _split_port(text: str, rule: bool) -> tuple[str, range | None]:
    """host and ports of `host`, `host:port`, `[v6]:port`, and for a rule
    `host:lo-hi` or a bare IPv6 address or network."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise RuleError(f"{text[:80]!r}: an unclosed [")
        host, rest = text[: end + 1], text[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise RuleError(f"{text[:80]!r}: expected :port after ]")
        return host, _ports(text, rest[1:], rule)
    if text.count(":") > 1:  # a bare IPv6 address: no port
        if not rule:
            raise RuleError(f"{text[:80]!r}: write an IPv6 endpoint as [address]:port")
        return text, None
    host, colon, port = text.partition(":")
    return host, _ports(text, port, rule) if colon else None


def _ports(text: str, spec: str, rule: bool) -> range:
    low, dash, high = spec.partition("-")
    if dash and not rule:
        raise RuleError(f"{text[:80]!r}: one port")
    try:
        first, last = int(low), int(high if dash else low)
    except ValueError:
        raise RuleError(f"{text[:80]!r}: {spec[:20]!r} is not a port or port range") from None
    if not 0 < first <= last <= 65535:
        raise RuleError(f"{text[:80]!r}: ports are 1-65535, the low one first")
    return range(first, last + 1)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _normalised(path: str) -> str:
    """The path without `..`, `.` or doubled slashes (a trailing one kept)."""
    kept = posixpath.normpath(path)
    return kept + "/" if path.endswith("/") and kept != "/" else kept
