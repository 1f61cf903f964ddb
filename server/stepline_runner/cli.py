"""`stepline-runner`: serve the runner until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sqlite3
from typing import Any

from .api.server import start_runner
from .engine.recovery import RetryPolicy
from .store.sqlite import SchemaError


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="stepline-runner", description=__doc__)
    parser.add_argument("--db", default="stepline.db", help="SQLite file (default: %(default)s)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="listen address; anything but loopback exposes the runner (default: %(default)s)",
    )
    parser.add_argument(
        "--port", type=int, default=7070, help="0 picks a free port (default: %(default)s)"
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
    args = parser.parse_args(argv)
    if args.executor_retries < 1 or args.retry_backoff <= 0:
        parser.error("--executor-retries must be 1 or more and --retry-backoff positive")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    options = {
        "auto_resume": args.auto_resume,
        "retry": RetryPolicy(args.executor_retries, args.retry_backoff),
        "durability": args.durability,
    }
    try:
        asyncio.run(_serve(args.db, args.host, args.port, options))
    except (SchemaError, sqlite3.Error) as exc:
        parser.exit(2, f"stepline-runner: cannot use database {args.db}: {exc}\n")
    except OSError as exc:
        parser.exit(2, f"stepline-runner: {exc}\n")


async def _serve(db: str, host: str, port: int, options: dict[str, Any]) -> None:
    server = await start_runner(db, host, port, **options)
    # Tests and scripts wait for this line rather than sleeping.
    print(f"stepline runner listening on {host}:{server.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()


if __name__ == "__main__":
    main()
