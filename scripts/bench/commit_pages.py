"""What a superstep's commit writes as the SQLite file grows.

`superstep.py`'s loop (`loop_executor.py` in its own process, a checkpoint
every superstep), with the runner in this process as in `profile_runner.py`,
so each store commit can be looked at: its time, and the WAL frames (pages)
it wrote, read from the WAL index (`-shm`) before and after it. Printed per
tenth of the run: the median commit, the WAL pages per commit, then which
B-trees (tables and indexes, named by SQLite's `dbstat`) the commits of the
first and last `--sample` supersteps wrote pages of, how many commits took
over 5 ms, the longest, and the WAL file's size at the end.

    python scripts/bench/commit_pages.py [--steps 10000] [--sample 100]

Nothing in the runner is changed: the commit is wrapped here. Another
checkout: PYTHONPATH=DIR/server:DIR/sdk.
"""

from __future__ import annotations

import sqlite3
import struct
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchlib import (
    check_completed,
    loop_tick,
    loop_workflow,
    median,
    parser,
    run_benchmark,
    start_executors,
    workdir,
)

from stepline_runner.api.server import start_runner

SLOW = 0.005


def wal_frames(db: Path) -> int:
    """Frames in the WAL now (mxFrame of the WAL index header; 0: none)."""
    try:
        header = (db.parent / f"{db.name}-shm").read_bytes()[:48]
    except FileNotFoundError:
        return 0
    return struct.unpack_from("=I", header, 16)[0] if len(header) >= 48 else 0


def frame_pages(db: Path, first: int, last: int) -> list[int]:
    """Page numbers of WAL frames first..last-1 (0-based)."""
    wal = (db.parent / f"{db.name}-wal").read_bytes()
    (page_size,) = struct.unpack_from(">I", wal, 8)
    return [struct.unpack_from(">I", wal, 32 + i * (24 + page_size))[0] for i in range(first, last)]


class Watch:
    """Each commit's time and frames; the pages of sampled ones."""

    def __init__(self, db: Path, steps: int, sample: int) -> None:
        self.db, self.steps, self.sample = db, steps, sample
        self.times: list[float] = []
        self.frames: list[int] = []
        self.pages = {"first": Counter[int](), "last": Counter[int]()}
        self.sampled = Counter[str]()

    def wrap(self, commit: Any) -> Any:
        async def watched(*args: Any, **kwargs: Any) -> Any:
            before = wal_frames(self.db)
            t0 = time.perf_counter()
            try:
                return await commit(*args, **kwargs)
            finally:
                self.times.append(time.perf_counter() - t0)
                after = wal_frames(self.db)
                first = before if after >= before else 0  # the WAL started over
                self.frames.append(after - first)
                self.note(first, after)

        return watched

    def note(self, first: int, after: int) -> None:
        n = len(self.times)
        part = "first" if n <= self.sample else "last" if n > self.steps - self.sample else ""
        if part:
            self.pages[part].update(frame_pages(self.db, first, after))
            self.sampled[part] += 1


def trees(db: Path) -> dict[int, str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        return dict(con.execute("SELECT pageno, name FROM dbstat"))


async def measure(steps: int, sample: int, tmp: Path) -> None:
    executor = await start_executors("loop_executor.py", tmp)
    db = tmp / "runner.db"
    server = await start_runner(db)
    watch = Watch(db, steps, sample)
    try:
        store = server.store
        store.commit = watch.wrap(store.commit)  # type: ignore[method-assign]
        runner = server.runner
        await runner.register_workflow(loop_workflow("bench-loop", executor.address, steps))
        begun = await runner.start_run("bench-loop", loop_tick(1, steps))
        task = runner.runs.task(begun.run_id)
        if task is not None:
            await task
        check_completed(await runner.get_run(begun.run_id))
        names = trees(db)
        wal_bytes = (tmp / "runner.db-wal").stat().st_size
    finally:
        await server.stop()
        await executor.stop()
    report(watch, names, wal_bytes)


def report(watch: Watch, names: dict[int, str], wal_bytes: int) -> None:
    times, frames = watch.times, watch.frames
    tenth = max(len(times) // 10, 1)
    cells = range(0, tenth * 10, tenth)
    print(f"{len(times)} commits; per tenth of the run:")
    medians = [median(times[i : i + tenth]) * 1000 for i in cells]
    print("  commit ms, median  " + " ".join(f"{m:6.3f}" for m in medians))
    written = [sum(frames[i : i + tenth]) / tenth for i in cells]
    print("  WAL pages / commit " + " ".join(f"{w:6.2f}" for w in written))
    for part, pages in watch.pages.items():
        count = watch.sampled[part] or 1
        by_tree = Counter[str]()
        for page, n in pages.items():
            by_tree[names.get(page, "(page not in use)")] += n
        print(f"B-trees written, {part} {count} commits (pages per commit):")
        for name, n in by_tree.most_common():
            print(f"  {name:<32} {n / count:5.2f}")
    slow = [t for t in times if t > SLOW]
    mean = sum(times) / len(times)
    print(
        f"commits over {SLOW * 1000:g} ms: {len(slow)}; longest {max(times) * 1000:.2f} ms;"
        f" mean {mean * 1000:.3f} ms; WAL file at the end {wal_bytes / 2**20:.1f} MiB"
    )


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--steps", type=int, default=10000)
    options.add_argument(
        "--sample", type=int, default=100, help="commits looked at, first and last (default 100)"
    )
    args = options.parse_args()
    with workdir(prefix="stepline-pages-") as tmp:
        run_benchmark(measure(args.steps, args.sample, tmp))


if __name__ == "__main__":
    main()
