"""The floor of one superstep: one plain gRPC round trip plus one SQLite commit.

Run as its own process against a running executor service, so that it stands
where the runner stands: a process calling the executor over loopback gRPC and
committing to a SQLite file on the same disk. Each iteration is

- one `Describe` call on the executor service (unary, tiny messages, nothing
  stored or computed on either side), then
- one transaction of one small row, written the way the runner's store writes:
  aiosqlite, WAL, synchronous=NORMAL, `BEGIN IMMEDIATE` / `INSERT` / `COMMIT`.

The true floor, measured in the same iterations when the service offers the
Session stream (`features.session`):

- one round trip on an open Session stream (an Execute of an executor type
  the service does not host, answered NOT_FOUND at once), then
- one transaction of one small row with plain `sqlite3` in this thread (no
  hop to another thread), WAL, synchronous=NORMAL.

It prints one JSON object on stdout: the samples in seconds, as lists
`rtt`, `commit` and `total` (rtt + commit of the same iteration), and
`stream_rtt`, `raw_commit` and `true_total` (empty without a Session).

    python scripts/bench/floor_probe.py --endpoint 127.0.0.1:50051 --db /tmp/floor.db
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
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
    stream_rtt: list[float] = field(default_factory=list)
    raw_commit: list[float] = field(default_factory=list)
    true_total: list[float] = field(default_factory=list)


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


def open_raw(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS raw (seq INTEGER PRIMARY KEY, at REAL NOT NULL, "
        "body BLOB NOT NULL)"
    )
    return db


def commit_raw(db: sqlite3.Connection, body: bytes) -> None:
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO raw (at, body) VALUES (?, ?)", (time.time(), body))
    db.execute("COMMIT")


async def probe(endpoint: str, db_path: str, iterations: int, warmup: int) -> Samples:
    samples = Samples()
    db = await open_db(db_path)
    raw = open_raw(f"{db_path}.raw")
    channel = grpc.aio.insecure_channel(endpoint, options=GRPC_MESSAGE_OPTIONS)
    stream = None
    try:
        stub = executor_pb2_grpc.ExecutorServiceStub(channel)
        request = executor_pb2.DescribeRequest()
        described = await stub.Describe(request)
        if described.HasField("features") and described.features.session:
            stream = stub.Session()  # type: ignore[call-arg]
            nothing = executor_pb2.SessionRequest(
                execute=executor_pb2.ExecuteRequest(run_id="floor", executor_type="floor-none")
            )
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
            if stream is None:
                continue
            t0 = time.perf_counter()
            nothing.call_id = i + 1
            await stream.write(nothing)
            await stream.read()
            t1 = time.perf_counter()
            commit_raw(raw, body)
            t2 = time.perf_counter()
            if i >= warmup:
                samples.stream_rtt.append(t1 - t0)
                samples.raw_commit.append(t2 - t1)
                samples.true_total.append(t2 - t0)
    finally:
        if stream is not None:
            stream.cancel()
        await channel.close(None)
        await db.close()
        raw.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True, help="executor service host:port")
    parser.add_argument("--db", required=True, help="SQLite file to commit to (created)")
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()
    samples = asyncio.run(probe(args.endpoint, args.db, args.iterations, args.warmup))
    print(json.dumps(samples.__dict__))


if __name__ == "__main__":
    main()
