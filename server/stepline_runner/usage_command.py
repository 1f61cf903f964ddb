"""`stepline-runner usage STORE`: what a store holds, table by table (rows,
bytes of the table and of its indexes, bytes of its records) and the bytes
of stored executor states, for a SQLite file or a PostgreSQL database alike
(`read_usage`, store/usage.py).

It only reads, in one snapshot, while runners go on (a SQLite file is never
created: a missing one is refused; on PostgreSQL a read-only transaction).
`--json` prints the same figures as one JSON object. Exit 0, or 2 with one
line saying why it cannot read the store.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sqlite3
from pathlib import Path
from typing import NoReturn

from .store.opening import is_postgres, shown
from .store.usage import StoreUsage, UsageError, read_usage


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (--help lists the options)\n")


def main(argv: list[str], prog: str = "stepline-runner usage") -> None:
    parser = _Parser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("store", help="a SQLite file, or postgresql://user:password@host/dbname")
    parser.add_argument("--json", action="store_true", help="one JSON object, for scripts")
    args = parser.parse_args(argv)
    location: str | Path = args.store if is_postgres(args.store) else Path(args.store)
    if isinstance(location, Path) and not location.is_file():
        parser.error(f"{shown(location)[:200]} is not a file")
    try:
        usage = read_usage(location)
    except (UsageError, sqlite3.Error) as exc:
        parser.exit(2, f"{prog}: {' '.join(str(exc).split())}\n")
    if args.json:
        print(json.dumps({"store": shown(location), **dataclasses.asdict(usage)}))
    else:
        print(report(shown(location), usage), end="")


def report(where: str, usage: StoreUsage) -> str:
    """The usage as a table, one line per table, then the totals."""
    lines = [
        f"{where}: {usage.db_bytes} bytes, last superstep {usage.last_superstep}, "
        f"{usage.state_bytes} bytes of executor states",
        f"{'table':<24}{'rows':>12}{'table bytes':>16}{'index bytes':>16}{'record bytes':>16}",
    ]
    for table in sorted(usage.rows):
        lines.append(
            f"{table:<24}{usage.rows[table]:>12}{usage.table_bytes.get(table, 0):>16}"
            f"{usage.index_bytes.get(table, 0):>16}{usage.record_bytes.get(table, 0):>16}"
        )
    return "\n".join(lines) + "\n"
