"""The runner command's options for exposing it: TLS, client certificates,
tokens or an auth configuration, and where metrics may be served; each fault
is a usage error naming the option (moved out of cli.py)."""

from __future__ import annotations

import argparse
import re
import ssl
import sys

from .api.auth_config import AuthConfigError, load_auth_config
from .api.security import LOOPBACK, Security

TOKEN = re.compile(r"[!-~]+")


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def security_of(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Security:
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    if args.auth_config and args.auth_token_file:
        parser.error(
            "give --auth-config or --auth-token-file, not both (a config can name the "
            "token's principal)"
        )
    if args.tls_client_ca and not args.tls_cert:
        parser.error(
            "--tls-client-ca needs --tls-cert and --tls-key (client certificates need TLS)"
        )
    try:
        auth = load_auth_config(args.auth_config) if args.auth_config else None
    except AuthConfigError as exc:
        parser.error(f"--auth-config: {exc}")
    if auth is not None and auth.needs_client_certificates and not args.tls_client_ca:
        names = ", ".join(sorted(p.name for p in auth.subjects.values()))[:200]
        parser.error(
            f"--auth-config {args.auth_config} names principals by tls_subject ({names}): "
            "give --tls-cert, --tls-key and --tls-client-ca (the CA of their certificates)"
        )
    try:
        security = Security(
            tls_cert=args.tls_cert.read_bytes() if args.tls_cert else None,
            tls_key=args.tls_key.read_bytes() if args.tls_key else None,
            token=args.auth_token_file.read_text().strip() if args.auth_token_file else None,
            auth=auth,
            client_ca=args.tls_client_ca.read_bytes() if args.tls_client_ca else None,
        )
    except OSError as exc:
        parser.error(f"cannot read {exc.filename}: {exc.strerror}")
    if security.client_ca is not None:
        try:
            ssl.create_default_context(cadata=security.client_ca.decode(errors="replace"))
        except (ssl.SSLError, ValueError) as exc:
            parser.error(
                f"--tls-client-ca {args.tls_client_ca}: not PEM CA certificates ({one_line(exc)})"
            )
    if args.tls_cert:
        try:
            # gRPC would only say "Failed to bind", after logging its own lines.
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                args.tls_cert, args.tls_key
            )
        except (ssl.SSLError, ValueError) as exc:
            parser.error(
                f"--tls-cert {args.tls_cert} / --tls-key {args.tls_key}: not a PEM certificate "
                f"and its private key ({one_line(exc)})"
            )
    if args.auth_token_file and not security.token:
        parser.error(f"{args.auth_token_file} is empty")
    if security.token and not TOKEN.fullmatch(security.token):
        # No caller could send it: gRPC metadata takes printable ASCII only.
        parser.error(
            f"{args.auth_token_file}: a token is one line of printable ASCII characters, "
            "without spaces"
        )
    exposed = args.host not in LOOPBACK
    authenticated = security.token or security.auth is not None
    if exposed and not (security.tls_cert and authenticated) and not args.insecure:
        parser.error(
            f"--host {args.host} exposes the runner beyond this machine: give --tls-cert, "
            "--tls-key and --auth-config (or --auth-token-file), or --insecure on a network "
            "you trust"
        )
    return security


def check_metrics_host(
    parser: argparse.ArgumentParser, args: argparse.Namespace, security: Security
) -> None:
    """Metrics beyond this machine go over TLS (the runner's certificate),
    or in plaintext only when told --insecure, as the runner's own port."""
    if args.metrics_port is None or args.metrics_host in LOOPBACK:
        return
    if security.tls_cert is None and not args.insecure:
        parser.error(
            f"--metrics-host {args.metrics_host[:100]} serves metrics beyond this machine: "
            "give --tls-cert and --tls-key (metrics then go over TLS, asking for client "
            "certificates with --tls-client-ca), or --insecure on a network you trust"
        )
    if security.client_ca is None and security.token is None and security.auth is None:
        # Told to, so allowed; but the endpoint asks for no credentials.
        print(
            f"{parser.prog}: warning: metrics on {args.metrics_host[:100]} are readable by "
            "anyone who can reach that address (--auth-config or --auth-token-file asks for "
            "a token, --tls-client-ca for a client certificate)",
            file=sys.stderr,
        )
