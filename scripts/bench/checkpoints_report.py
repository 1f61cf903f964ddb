"""What the checkpoint benchmark (`checkpoints.py`) measures, and its report:
bytes per superstep against the changed bytes, with the verdicts, and the
times to save and to restore."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from benchlib import intervals, load_average, median

from stepline_runner.store.usage import CHECKPOINT_TABLES, StoreUsage

Sample = StoreUsage  # one consistent snapshot of the runner's database


@dataclass(frozen=True)
class Variant:
    name: str
    invoke: str  # "all" or "one"
    size: int  # characters of text per cell state
    steps: int
    forks: int = 0  # restore timing from the run's last checkpoint


@dataclass
class Result:
    variant: Variant
    early: Sample
    final: Sample
    times: dict[int, float]  # superstep -> time of its SUPERSTEP_COMPLETED
    file_bytes: int  # db file after wal_checkpoint(TRUNCATE), whole run
    wal_busy: int
    warmup: int
    load: list[float] = field(default_factory=list)  # GetCheckpoint(include_content)
    forks: list[float] = field(default_factory=list)  # ResumeRun(fork=True)
    fork_states: int = 0
    fork_state_bytes: int = 0

    @property
    def span(self) -> int:
        return self.final.last_superstep - self.early.last_superstep

    def per_step(self, f: Callable[[Sample], int]) -> float:
        return (f(self.final) - f(self.early)) / self.span

    @property
    def db_per_step(self) -> float:
        return self.per_step(lambda s: s.db_bytes)

    @property
    def changed_per_step(self) -> float:
        return self.per_step(lambda s: s.state_bytes)

    def superstep_median(self) -> float:
        return median(intervals(self.times, after=self.warmup).values())


@dataclass
class Probe:
    restore_all: list[float] = field(default_factory=list)
    save_full: list[float] = field(default_factory=list)
    save_mixed: list[float] = field(default_factory=list)
    save_unchanged: list[float] = field(default_factory=list)
    save_one: list[float] = field(default_factory=list)
    state_bytes: int = 0


# -- report


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


med = median


def describe(v: Variant, cells: int) -> str:
    who = (
        f"all {cells} cells run every superstep and are asked for their state"
        if v.invoke == "all"
        else "one cell runs per superstep and is asked for its state"
    )
    return f"{who}; one {v.size:,}-character state changes per superstep"


def breakdown(r: Result) -> None:
    a, b = r.early, r.final
    tables = sorted(
        set(a.table_bytes) | set(b.table_bytes) | set(b.index_bytes),
        key=lambda t: (
            -(
                b.table_bytes.get(t, 0)
                + b.index_bytes.get(t, 0)
                - a.table_bytes.get(t, 0)
                - a.index_bytes.get(t, 0)
            )
        ),
    )
    header = (
        f"    {'table':<18} {'bytes/step':>10} {'index of it':>11} {'rows/step':>9}"
        f" {'bytes/row':>9} {'record/row':>10}"
    )
    print(header)
    print("    " + "-" * (len(header) - 4))
    for t in tables:
        own = b.table_bytes.get(t, 0) - a.table_bytes.get(t, 0)
        idx = b.index_bytes.get(t, 0) - a.index_bytes.get(t, 0)
        rows = b.rows.get(t, 0) - a.rows.get(t, 0)
        data = b.record_bytes.get(t, 0) - a.record_bytes.get(t, 0)
        if own == idx == rows == 0:
            continue
        per_row = f"{(own + idx) / rows:9,.0f}" if rows else f"{'-':>9}"
        record = f"{data / rows:10,.0f}" if rows else f"{'-':>10}"
        print(
            f"    {t:<18} {(own + idx) / r.span:10,.0f} {idx / r.span:11,.0f}"
            f" {rows / r.span:9.2f} {per_row} {record}"
        )
    free = (b.freelist_bytes - a.freelist_bytes) / r.span
    if free:
        print(f"    {'(free pages)':<18} {free:10,.0f}")
    print("    " + "-" * (len(header) - 4))
    print(f"    {'total':<18} {r.db_per_step:10,.0f}")
    print(
        "    bytes/row: the table's and its indexes' pages per row added; record/row:"
        " bytes of\n    the table's own records (leaf and overflow pages) per row added"
    )


def table_total(s: Sample, table: str) -> int:
    """Bytes of a table's pages and its indexes' pages."""
    return s.table_bytes.get(table, 0) + s.index_bytes.get(table, 0)


def per_table(r: Result) -> dict[str, float]:
    """Bytes per superstep of each table with its indexes."""
    return {
        t: (table_total(r.final, t) - table_total(r.early, t)) / r.span
        for t in sorted(r.final.rows)
        if table_total(r.final, t) != table_total(r.early, t)
    }


def report(
    results: list[Result], probe: Probe, cells: int, processes: int, fixed: int, warmup: int
) -> None:
    print()
    print(
        f"checkpoint benchmark: {cells} cells + 1 driver over {processes} executor processes,"
        f" a checkpoint every superstep"
    )
    verdicts: list[str] = []
    for r in results:
        v = r.variant
        print()
        print(f"== variant {v.name}: {v.steps} supersteps; {describe(v, cells)}")
        print(
            f"  sampled at supersteps {r.early.last_superstep} and {r.final.last_superstep}"
            f" ({r.span} supersteps between); page size {r.final.page_size}"
        )
        breakdown(r)
        changed = r.changed_per_step
        db = r.db_per_step
        ckpt = sum(n for t, n in per_table(r).items() if t in CHECKPOINT_TABLES)
        print(f"  DB bytes/superstep:      {db:10,.0f}")
        print(f"  changed bytes/superstep: {changed:10,.0f}  (new stored state bytes)")
        print(f"  ratio:                   {db / changed:10.2f}x")
        print(
            f"  checkpoint tables only ({', '.join(CHECKPOINT_TABLES)}):"
            f" {ckpt:,.0f} bytes/superstep, {ckpt / changed:.2f}x"
        )
        print(
            f"  whole file after wal_checkpoint(TRUNCATE{', busy' if r.wal_busy else ''}):"
            f" {r.file_bytes:,} bytes = {r.file_bytes / v.steps:,.0f} bytes/superstep"
            " including start-up"
        )
        print(f"  superstep median (after superstep {warmup}): {ms(r.superstep_median())}")
        if v.size >= 1000:
            ok = db <= 2 * changed + fixed
            line = (
                f"WITHIN 2x CHANGED + FIXED: {'yes' if ok else 'no'}"
                f" (fixed overhead = {fixed:,} bytes; variant {v.name}:"
                f" {db:,.0f} vs limit {2 * changed + fixed:,.0f})"
            )
            print("  " + line)
            verdicts.append(line)
        if r.forks:
            print(f"  restore: checkpoint of {r.fork_states} states, {r.fork_state_bytes:,} bytes")
            print(
                f"    GetCheckpoint(include_content) from a client, median of {len(r.load)}:"
                f" {ms(med(r.load))}"
            )
            print(
                f"    ResumeRun(fork=True) (load + {r.fork_states} RestoreCheckpoint + commit),"
                f" median of {len(r.forks)}: {ms(med(r.forks))}"
                f" (min {ms(min(r.forks))}, max {ms(max(r.forks))})"
            )

    print()
    print(
        f"== SaveCheckpoint / RestoreCheckpoint, called in parallel from this process,"
        f" {cells} cells with {probe.state_bytes:,}-byte states, median of"
        f" {len(probe.save_full)}"
    )
    print(f"  save, all {cells} full:                    {ms(med(probe.save_full))}")
    print(f"  save, 1 full + {cells - 1} unchanged (variant all): {ms(med(probe.save_mixed))}")
    print(f"  save, all {cells} unchanged:               {ms(med(probe.save_unchanged))}")
    print(f"  save, 1 full (variant one):             {ms(med(probe.save_one))}")
    print(f"  restore, all {cells}:                      {ms(med(probe.restore_all))}")
    by_name = {r.variant.name: r for r in results}
    if "all" in by_name and "tiny" in by_name:
        big, small = by_name["all"].superstep_median(), by_name["tiny"].superstep_median()
        print(
            f"  superstep median, variant all vs tiny: {ms(big)} vs {ms(small)}"
            f" (difference {ms(big - small)}; noise under load is of that order)"
        )
    print()
    print("== summary")
    for r in results:
        if r.variant.size < 1000:
            continue
        top = ", ".join(
            f"{t} {n:,.0f}" for t, n in sorted(per_table(r).items(), key=lambda kv: -kv[1])
        )
        print(
            f"  variant {r.variant.name}: DB bytes/superstep {r.db_per_step:,.0f}, changed"
            f" bytes/superstep {r.changed_per_step:,.0f}, ratio"
            f" {r.db_per_step / r.changed_per_step:.2f}x ({top})"
        )
    if "all" in by_name:
        r = by_name["all"]
        print(
            f"  time to save (variant all): SaveCheckpoint of 1 full + {cells - 1} unchanged in"
            f" parallel {ms(med(probe.save_mixed))}; superstep {ms(r.superstep_median())}"
        )
        if r.forks:
            print(
                f"  time to restore ({r.fork_states} states, {r.fork_state_bytes:,} bytes):"
                f" ResumeRun(fork=True) {ms(med(r.forks))}"
            )
    load = load_average()
    print(
        f"  load average at the end: {load} on {os.cpu_count()} CPUs (times are noisy under load)"
    )
    print()
    for line in verdicts:
        print(line)
