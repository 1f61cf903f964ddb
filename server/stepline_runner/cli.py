"""`stepline-runner`: serve the runner until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sqlite3

from .api.server import start_runner
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
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(_serve(args.db, args.host, args.port))
    except (SchemaError, sqlite3.Error) as exc:
        parser.exit(2, f"stepline-runner: cannot use database {args.db}: {exc}\n")
    except OSError as exc:
        parser.exit(2, f"stepline-runner: {exc}\n")


async def _serve(db: str, host: str, port: int) -> None:
    server = await start_runner(db, host, port)
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
