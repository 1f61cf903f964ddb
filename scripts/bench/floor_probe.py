"""The floor of one superstep: one plain gRPC round trip plus one SQLite commit.

Run as its own process against a running executor service, so that it stands
where the runner stands: a process calling the executor over loopback gRPC and
committing to a SQLite file on the same disk. Each iteration is

- one `Describe` call on the executor service (unary, tiny messages, nothing
  stored or computed on either side), then
- one transaction of one small row, written the way the runner's store writes:
  aiosqlite, WAL, synchronous=NORMAL, `BEGIN IMMEDIATE` / `INSERT` / `COMMIT`.

It prints one JSON object on stdout: the samples in seconds, as lists
`rtt`, `commit` and `total` (rtt + commit of the same iteration).

    python scripts/bench/floor_probe.py --endpoint 127.0.0.1:50051 --db /tmp/floor.db
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from dataclasses import dataclass, field

import aiosqlite
import grpc

from stepline.limits import GRPC_MESSAGE_OPTIONS
from stepline.v1 import executor_pb2, executor_pb2_grpc


@dataclass
class Samples:
    rtt: list[float] = field(default_factory=list)
    commit: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)


async def open_db(path: str) -> aiosqlite.Connection:
    """A connection set up as `SqliteStore.open` sets up its writer."""
    db = await aiosqlite.connect(path, isolation_level=None)
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA synchronous=NORMAL")
    await db.execute("PRAGMA busy_timeout=5000")
    await db.execute(
        "CREATE TABLE IF NOT EXISTS floor (seq INTEGER PRIMARY KEY, at REAL NOT NULL, "
        "body BLOB NOT NULL)"
    )
    return db


async def commit_one(db: aiosqlite.Connection, body: bytes) -> None:
    await db.execute("BEGIN IMMEDIATE")
    await db.execute("INSERT INTO floor (at, body) VALUES (?, ?)", (time.time(), body))
    await db.execute("COMMIT")


async def probe(endpoint: str, db_path: str, iterations: int, warmup: int) -> Samples:
    samples = Samples()
    db = await open_db(db_path)
    channel = grpc.aio.insecure_channel(endpoint, options=GRPC_MESSAGE_OPTIONS)
    try:
        stub = executor_pb2_grpc.ExecutorServiceStub(channel)
        request = executor_pb2.DescribeRequest()
        body = os.urandom(64)
        for i in range(warmup + iterations):
            t0 = time.perf_counter()
            await stub.Describe(request)
            t1 = time.perf_counter()
            await commit_one(db, body)
            t2 = time.perf_counter()
            if i >= warmup:
                samples.rtt.append(t1 - t0)
                samples.commit.append(t2 - t1)
                samples.total.append(t2 - t0)
    finally:
        await channel.close(None)
        await db.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True, help="executor service host:port")
    parser.add_argument("--db", required=True, help="SQLite file to commit to (created)")
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()
    samples = asyncio.run(probe(args.endpoint, args.db, args.iterations, args.warmup))
    print(json.dumps({"rtt": samples.rtt, "commit": samples.commit, "total": samples.total}))


if __name__ == "__main__":
    main()
