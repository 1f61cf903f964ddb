"""`stepline-runner copy-store SQLITE_FILE POSTGRESQL_URL`: copy a SQLite
database into PostgreSQL, then check the copy run by run.

Neither database may be in use by a runner (each store's lock says so). The
target must be empty unless --replace. The copy is one transaction; the
check reads both through the store, as a runner would, and compares every
run's record, events and checkpoints (states checked against their hashes).
Exit 0 when all match, 1 when something differs (listed), 2 when it cannot
start (one line saying why).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import time
from pathlib import Path
from typing import NoReturn

from .store import SqliteStore
from .store.opening import StoreOpenError, is_postgres, shown
from .store.ownership import DatabaseInUse
from .store.schema import SchemaError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (--help lists the options)\n")


def main(argv: list[str], prog: str = "stepline-runner copy-store") -> None:
    parser = _Parser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="the SQLite file to copy (left unchanged)")
    parser.add_argument("target", help="postgresql://user:password@host:port/dbname")
    parser.add_argument(
        "--replace",
        action="store_true",
        help="delete every run and workflow the target holds before copying",
    )
    args = parser.parse_args(argv)
    if not is_postgres(args.target):
        parser.error(f"the target must be a postgresql:// URL, not {shown(args.target)[:80]!r}")
    if not args.source.is_file():
        parser.error(f"{args.source} is not a file")
    try:
        differences = asyncio.run(_copy(args.source, args.target, args.replace))
    except (StoreOpenError, SchemaError, DatabaseInUse, sqlite3.Error, ValueError) as exc:
        parser.exit(2, f"{prog}: {' '.join(str(exc).split())}\n")
    if differences:
        parser.exit(1, "".join(f"{prog}: DIFFERS: {d}\n" for d in differences))


async def _copy(source: Path, target: str, replace: bool) -> list[str]:
    from .store.copying import compare, copy_to_postgres
    from .store.postgres import PostgresStore

    started = time.monotonic()
    lite = await SqliteStore.open(source)  # the current schema, and no runner on it
    try:
        postgres = await PostgresStore.open(target)
        try:
            report = await copy_to_postgres(source, postgres, replace)
            copied = ", ".join(f"{n} {table}" for table, n in sorted(report.rows.items()))
            print(f"copied {shown(source)} into {shown(target)}: {copied}", flush=True)
            result = await compare(lite, postgres)
        finally:
            await postgres.close()
    finally:
        await lite.close()
    verdict = "all match" if not result.differences else f"{len(result.differences)} differ"
    print(
        f"checked {result.runs} runs ({result.events} events, {result.checkpoints} "
        f"checkpoints) and {result.workflows} workflows ({result.versions} versions): {verdict} "
        f"({time.monotonic() - started:.1f}s)",
        file=sys.stdout,
        flush=True,
    )
    return result.differences
