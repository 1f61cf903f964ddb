"""`stepline-runner`: serve the runner until SIGTERM or SIGINT.
(`stepline-runner copy-store SQLITE_FILE POSTGRESQL_URL` copies a database;
`stepline-runner usage STORE` says what a store holds, table by table.)

A start-up failure (bad options, a taken port, an unreadable certificate, a
database it cannot use) is one line on stderr and exit code 2, with the
database lock released."""

from __future__ import annotations

import argparse
import asyncio
import math
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any, NoReturn

from stepline.credentials import CredentialsError
from stepline.telemetry import TracingConfigError, configure_tracing

from . import copy_command, usage_command
from .api.executor_tls import ExecutorTls, parse_executor_tls
from .api.server import RunnerServer, start_runner
from .cli_security import check_metrics_host, one_line, security_of
from .collector import tune_collector
from .engine.allowlist import DEFAULT_RULES, AllowList, Rule, RuleError, parse_rule
from .engine.limits import Limits
from .engine.recovery import RetryPolicy
from .observability import configure_logging
from .store.following import FileChanged
from .store.opening import StoreOpenError, shown
from .store.sqlite import DatabaseInUse, SchemaError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not the usage block: it is read in logs and by supervisors.
        self.exit(2, f"{self.prog}: {message} (--help lists the options)\n")


def main(argv: list[str] | None = None, prog: str = "stepline-runner") -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["copy-store"]:
        return copy_command.main(argv[1:], f"{prog} copy-store")
    if argv[:1] == ["usage"]:
        return usage_command.main(argv[1:], f"{prog} usage")
    parser = _Parser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--store",
        "--db",
        dest="store",
        default="stepline.db",
        metavar="STORE",
        help="a SQLite file, or a PostgreSQL database as postgresql://user:password@host:port/"
        "dbname (needs the postgresql extra) (default: %(default)s)",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="listen address; anything but loopback exposes the runner (default: %(default)s)",
    )
    parser.add_argument(
        "--port", type=int, default=7070, help="0 picks a free port (default: %(default)s)"
    )
    parser.add_argument(
        "--lease-seconds",
        type=float,
        default=0.0,
        metavar="S",
        help="share the PostgreSQL --store with other runners: each run is driven by the "
        "runner holding its lease, renewed every S/3 seconds, taken over by another runner "
        "S seconds after its holder stopped renewing it (default: off, one runner)",
    )
    parser.add_argument(
        "--max-runs",
        type=int,
        metavar="N",
        help="with --lease-seconds: drive at most N runs at once, leaving the others to "
        "runners with room; 0 serves the API only and drives no run (default: no cap)",
    )
    parser.add_argument(
        "--follow",
        action="store_true",
        help="serve the reads and run watchers (WatchRun) of a SQLite --store that another "
        "runner on this machine owns and drives, taking that load off it; drive, write and "
        "resume nothing, and refuse the calls that would (default: own the --store)",
    )
    parser.add_argument(
        "--no-auto-resume",
        dest="auto_resume",
        action="store_false",
        help="do not resume the runs that were running when the runner stopped",
    )
    parser.add_argument(
        "--executor-retries",
        type=int,
        default=RetryPolicy.attempts,
        help="attempts to reach an executor service that is away, and rollbacks without "
        "progress, before the run fails (default: %(default)s)",
    )
    parser.add_argument(
        "--retry-backoff",
        type=float,
        default=RetryPolicy.initial_backoff,
        help="first pause between those attempts, in seconds; it doubles up to "
        f"{RetryPolicy.max_backoff:g}s (default: %(default)s)",
    )
    parser.add_argument(
        "--durability",
        choices=("normal", "full"),
        default="normal",
        help="normal: commits survive a crash of the runner; full: also a power loss, "
        "at the cost of waiting for the disk on every commit (default: %(default)s)",
    )
    parser.add_argument(
        "--delete-finished-after",
        type=_age,
        metavar="AGE",
        help="delete runs that ended longer ago than AGE (e.g. 45s, 90m, 12h, 30d), with "
        "their events, checkpoints and unshared state blobs (default: keep them)",
    )
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate: serve TLS")
    parser.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    parser.add_argument(
        "--auth-token-file",
        type=Path,
        help="file holding the token callers must send as 'authorization: Bearer <token>'",
    )
    parser.add_argument(
        "--auth-config",
        type=Path,
        metavar="FILE",
        help="YAML or JSON naming the principals (by token SHA-256 or TLS client certificate "
        "subject) and their role per namespace (README, 'Running it for real')",
    )
    parser.add_argument(
        "--tls-client-ca",
        type=Path,
        metavar="FILE",
        help="PEM CA certificates: require callers to present a client certificate they "
        "signed (needed when --auth-config names principals by tls_subject)",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="allow a non-loopback --host without TLS and a token, or --metrics-host without "
        "TLS (trusted networks only)",
    )
    parser.add_argument(
        "--allow-executors",
        action="append",
        type=_rule,
        metavar="RULE",
        help="an executor endpoint the runner may dial (repeatable; the list replaces the "
        "default): an IP address or network with an optional port or range "
        "(10.0.0.0/8:7000-7099), a host name as written (executors.internal:443), or "
        "unix:/path (a directory ending in /: every socket under it). Default: "
        + ", ".join(DEFAULT_RULES),
    )
    parser.add_argument(
        "--executor-tls",
        action="append",
        nargs="+",
        default=[],
        metavar=("RULES", "KEY=FILE"),
        help="dial the executor endpoints matching RULES (* for all, or allow-list rules "
        "joined by commas) over TLS, trusting the CA certificates in ca=FILE (default: the "
        "system's), presenting the client certificate cert=FILE with its key=FILE, and/or "
        "sending the token in token=FILE (repeatable; the first that matches applies). "
        "Endpoints beyond loopback are never dialled in plaintext",
    )
    parser.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="change a cap on what callers send (repeatable); names and defaults: "
        + ", ".join(f"{k}={v:g}" for k, v in vars(Limits()).items()),
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        help="serve Prometheus metrics on this port (0 picks one), over HTTPS when the "
        "runner has --tls-cert; off by default",
    )
    parser.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        help="listen address of the metrics endpoint, served over TLS with --tls-cert (and "
        "client certificates with --tls-client-ca); beyond loopback it needs --tls-cert or "
        "--insecure (default: %(default)s)",
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="json: one JSON object per line, with run_id, superstep, executor_id and "
        "event_kind where they apply (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.metrics_port is not None and not 0 <= args.metrics_port <= 65535:
        parser.error("--metrics-port must be between 0 and 65535")
    if args.executor_retries < 1 or not 0 < args.retry_backoff < math.inf:  # and not nan
        parser.error("--executor-retries must be 1 or more and --retry-backoff a positive number")
    try:
        limits = Limits.parse(args.limit)
    except ValueError as exc:
        parser.error(str(exc))
    security = security_of(parser, args)
    executor_tls = _executor_tls(parser, args.executor_tls)
    if args.lease_seconds and not 0.3 <= args.lease_seconds <= 3600:
        parser.error(f"--lease-seconds must be between 0.3 and 3600, not {args.lease_seconds:g}")
    if args.max_runs is not None and not args.lease_seconds:
        parser.error(
            "--max-runs leaves runs to other runners on the same database: it needs "
            "--lease-seconds (and a PostgreSQL --store)"
        )
    if args.max_runs is not None and not 0 <= args.max_runs <= 1_000_000:
        parser.error(f"--max-runs must be between 0 and 1000000, not {args.max_runs}")
    _check_follow(parser, args)
    check_metrics_host(parser, args, security)
    configure_logging(args.log_format)
    try:
        # Traces go where the standard OTEL_* environment variables say.
        tracer_provider = configure_tracing("stepline-runner")
    except TracingConfigError as exc:
        parser.exit(2, f"{prog}: {one_line(exc)}\n")
    options = {
        "auto_resume": args.auto_resume,
        "retry": RetryPolicy(args.executor_retries, args.retry_backoff),
        "durability": args.durability,
        "security": security,
        "delete_finished_after": args.delete_finished_after,
        "limits": limits,
        "metrics_port": args.metrics_port,
        "metrics_host": args.metrics_host,
        "log_events": args.log_format == "json",
        "allowed": AllowList(tuple(args.allow_executors)) if args.allow_executors else None,
        "executor_tls": executor_tls,
        "lease_seconds": args.lease_seconds,
        "max_runs": args.max_runs,
        "follow": args.follow,
    }
    try:
        asyncio.run(_serve(args.store, args.host, args.port, options))
    except StoreOpenError as exc:  # its message names the database
        parser.exit(2, f"{prog}: {one_line(exc)}\n")
    except FileChanged as exc:  # its message names the file
        parser.exit(2, f"{prog}: stopped following: {one_line(exc)}\n")
    except (SchemaError, DatabaseInUse, sqlite3.Error) as exc:
        parser.exit(2, f"{prog}: cannot use database {shown(args.store)}: {one_line(exc)}\n")
    except OSError as exc:
        parser.exit(2, f"{prog}: {one_line(exc)}\n")
    finally:
        if tracer_provider is not None:
            tracer_provider.shutdown()  # flush the spans still batched


def _check_follow(parser: _Parser, args: argparse.Namespace) -> None:
    """A follower owns nothing: the options of what it would own are refused."""
    if not args.follow:
        return
    owned = {
        "--lease-seconds": bool(args.lease_seconds),
        "--max-runs": args.max_runs is not None,
        "--delete-finished-after": args.delete_finished_after is not None,
        "--durability full": args.durability != "normal",
        "--no-auto-resume": not args.auto_resume,
        # Its runs' metrics are the owner's to serve: seeded here, they would never move.
        "--metrics-port": args.metrics_port is not None,
    }
    if given := [name for name, on in owned.items() if on]:
        parser.error(
            f"--follow drives and writes nothing, so {', '.join(given)} would do nothing: "
            "give it to the runner that owns the --store"
        )


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _age(text: str) -> float:
    """'45s', '90m', '12h', '30d' or plain seconds, positive and at most 100 years."""
    number, unit = (text[:-1], text[-1]) if text[-1:] in _UNITS else (text, "s")
    try:
        seconds = float(number) * _UNITS[unit]
    except ValueError:
        seconds = -1
    if not 0 < seconds <= 100 * 365 * 86400:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(
            f"{text[:20]!r} is not an age such as 45s, 90m, 12h or 30d"
        )
    return seconds


def _rule(text: str) -> Rule:
    try:
        return parse_rule(text)
    except RuleError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _executor_tls(parser: argparse.ArgumentParser, given: list[list[str]]) -> list[ExecutorTls]:
    try:
        return [parse_executor_tls(words) for words in given]
    except CredentialsError as exc:
        parser.error(str(exc))


async def start(db: str, host: str, port: int, options: dict[str, Any]) -> RunnerServer:
    """The runner as the command starts it: what start-up made is frozen out
    of the cyclic collector before any run exists (recovered runs' too)."""
    return await start_runner(db, host, port, before_runs=tune_collector, **options)


async def _serve(db: str, host: str, port: int, options: dict[str, Any]) -> None:
    server = await start(db, host, port, options)
    if server.metrics_port is not None:
        print(f"stepline runner metrics on {options['metrics_host']}:{server.metrics_port}")
    # Tests and scripts wait for this line rather than sleeping.
    print(f"stepline runner listening on {host}:{server.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # A PostgreSQL store without leases: another runner took the database.
    lost: asyncio.Event = getattr(server.store, "lost", asyncio.Event())
    waits = [asyncio.ensure_future(e.wait()) for e in (stop, lost)]
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for waiting in waits:
        waiting.cancel()
    await server.stop()
    if lost.is_set():
        # A follower's file changed under it (store/following.py), or a PostgreSQL lock went.
        raise getattr(server.store, "lost_because", None) or DatabaseInUse(
            "another runner took it while the connection holding this runner's lock was "
            "away (the server restarted); this runner stopped"
        )


if __name__ == "__main__":
    main()
