"""The figures of `events.py`: one round's delivery and latency, and the
medians over rounds, with what every column means."""

from __future__ import annotations

import functools
import os
from array import array
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from benchlib import median, quantile
from events_subscribers import FIELDS


@dataclass
class Subscriber:
    started: float  # time.time() when its watch began
    rows: array[float]  # flat, FIELDS per event: sequence, receipt time

    def column(self, field: int) -> array[float]:
        return self.rows[field::FIELDS]


@dataclass
class Round:
    subscribers: int
    processes: int
    events: int  # events of the run (last sequence)
    supersteps: int
    # Per sequence (from 1): the event's superstep and `time`, as stored.
    stored: list[tuple[int, float]]
    wall: float  # start of the run to the end of the last watch (or of the run)
    runner_cpu: float
    other_cpu: float  # the executor's, and with --front the front runner's
    subscriber_cpu: float
    load: float  # 1-minute load average at the end
    received: list[Subscriber]

    @property
    def run_seconds(self) -> float:
        """First to last event `time` of the run."""
        return self.stored[-1][1] - self.stored[0][1]


@dataclass
class Stats:
    subscribers: int
    processes: int
    events: int
    supersteps: int
    run_seconds: float
    wall: float
    runner_cpu: float
    other_cpu: float
    subscriber_cpu: float
    load: float
    complete: bool  # every subscriber got 1..events, in order, once each
    delivered: int = 0
    delivery_wall: float = 0.0
    per_sub_median: float = 0.0
    per_sub_min: float = 0.0
    catch_up: int = 0  # events committed before their subscriber's watch began
    built: tuple[float, float] = (0.0, 0.0)  # median, p99 (s)
    commit: tuple[float, float] = (0.0, 0.0)
    end_lag: float = 0.0  # last receipt minus the run's last event time

    @property
    def run_rate(self) -> float:
        return self.events / self.run_seconds

    @property
    def rate(self) -> float:
        return self.delivered / self.delivery_wall if self.delivery_wall else 0.0


def analyse(r: Round) -> Stats:
    s = Stats(
        r.subscribers,
        r.processes,
        r.events,
        r.supersteps,
        r.run_seconds,
        r.wall,
        r.runner_cpu,
        r.other_cpu,
        r.subscriber_cpu,
        r.load,
        complete=True,
    )
    if not r.received:
        return s
    expected = array("d", range(1, r.events + 1))
    s.complete = all(sub.column(0) == expected for sub in r.received)
    # A commit batch is one superstep's events (superstep 0: the run's start);
    # its latest-built event is built right before the commit.
    batch_time: dict[int, float] = {}
    for step, built in r.stored:
        batch_time[step] = max(batch_time.get(step, 0.0), built)
    built_lat: list[float] = []
    commit_lat: list[float] = []
    rates: list[float] = []
    first_receipt, last_receipt = float("inf"), 0.0
    for sub in r.received:
        receipts = sub.column(1)
        s.delivered += len(receipts)
        first_receipt = min(first_receipt, receipts[0])
        last_receipt = max(last_receipt, receipts[-1])
        if len(receipts) > 1:
            rates.append((len(receipts) - 1) / (receipts[-1] - receipts[0]))
        for sequence, received in zip(sub.column(0), receipts, strict=True):
            step, built = r.stored[int(sequence) - 1]
            committed = batch_time[step]
            if committed < sub.started:
                s.catch_up += 1
                continue
            built_lat.append(received - built)
            commit_lat.append(received - committed)
    s.delivery_wall = last_receipt - first_receipt
    s.per_sub_median = median(rates)
    s.per_sub_min = min(rates)
    if built_lat:
        s.built = (median(built_lat), quantile(built_lat, 0.99))
        s.commit = (median(commit_lat), quantile(commit_lat, 0.99))
    s.end_lag = last_receipt - max(batch_time.values())
    return s


def report(stats: list[Stats], steps: int, per_process: int, watch: str) -> None:
    print()
    print(
        f"event delivery: self-loop, {steps} supersteps, 4 events per superstep commit; "
        f"fresh runner per round"
    )
    how = "watch(run_id) from sequence 0" if watch == "run" else "watch_all(workflow_id)"
    print(
        f"subscribers: RunnerClient.{how}, one channel each, up to {per_process} per "
        "subscriber process"
    )
    print("  (each client has a TCP connection of its own: one connection per subscriber)")
    print()
    head = (
        f"{'subs':>5} {'procs':>5} {'events':>6} {'run s':>6} {'run ev/s':>8}"
        f" {'delivered':>9} {'recv s':>6} {'all ev/s':>9} {'sub ev/s med':>12}"
        f" {'min':>7} {'end lag ms':>10} {'runner cpu s':>12} {'subs cpu s':>10}"
        f" {'load':>5} {'ok':>3}"
    )
    print(head)
    print("-" * len(head))
    for s in stats:
        if not s.subscribers:
            print(
                f"{0:>5} {'-':>5} {s.events:>6} {s.run_seconds:>6.2f} {s.run_rate:>8.0f}"
                f" {'-':>9} {'-':>6} {'-':>9} {'-':>12} {'-':>7} {'-':>10}"
                f" {s.runner_cpu:>12.2f} {'-':>10} {s.load:>5.1f} {'-':>3}"
            )
            continue
        print(
            f"{s.subscribers:>5} {s.processes:>5} {s.events:>6} {s.run_seconds:>6.2f}"
            f" {s.run_rate:>8.0f} {s.delivered:>9} {s.delivery_wall:>6.2f} {s.rate:>9.0f}"
            f" {s.per_sub_median:>12.0f} {s.per_sub_min:>7.0f} {s.end_lag * 1000:>10.1f}"
            f" {s.runner_cpu:>12.2f} {s.subscriber_cpu:>10.2f} {s.load:>5.1f}"
            f" {'yes' if s.complete else 'NO':>3}"
        )
    print()
    head = (
        f"{'subs':>5} {'live events':>11} {'catch-up':>8}"
        f" {'built->recv med':>15} {'p99':>8} {'commit->recv med':>16} {'p99':>8}"
    )
    print("latency, ms, live events only (median and p99 over all subscribers' events)")
    print(head)
    print("-" * len(head))
    for s in stats:
        if not s.subscribers:
            continue
        print(
            f"{s.subscribers:>5} {s.delivered - s.catch_up:>11} {s.catch_up:>8}"
            f" {s.built[0] * 1000:>15.2f} {s.built[1] * 1000:>8.2f}"
            f" {s.commit[0] * 1000:>16.2f} {s.commit[1] * 1000:>8.2f}"
        )
    print()
    print("run ev/s: the run's events over its first-to-last event time (what it commits).")
    print("all ev/s: events received by all subscribers over first-to-last receipt (any).")
    print("sub ev/s: one subscriber's events over its own first-to-last receipt; med, min.")
    print("end lag: last receipt (any subscriber) minus the run's last event time.")
    print("runner cpu s, subs cpu s: CPU seconds of the runner over the round, and of all")
    print("  subscriber processes while they watched;")
    print("  other cpu s (in the summary): the executor's, with --front the front runner's too;")
    print(f"  load: 1-minute load average at the round's end ({os.cpu_count()} CPUs).")
    print("ok: every subscriber received sequences 1..events, in order, once each.")
    print("built->recv: receipt time.time() in the subscriber minus the event's `time`; the")
    print("  runner sets `time` when it builds the event, for a superstep's first events")
    print("  before the executor is even called, so this includes the rest of the superstep.")
    print("commit->recv: receipt minus the latest `time` of the event's commit batch, built")
    print("  just before the commit: an upper bound of commit-to-receipt, commit included.")
    print("catch-up: events committed before their subscriber's watch began (the watch")
    print("  starts right after StartRun returns); left out of the latency columns.")


def spread(values: list[float], digits: int = 2) -> str:
    """'median (min-max)'."""
    return f"{median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def _by_count(rounds: list[list[Stats]]) -> dict[int, list[tuple[Stats, Stats | None]]]:
    """Every count's rounds, each with its repeat's round with nobody watching."""
    by_count: dict[int, list[tuple[Stats, Stats | None]]] = defaultdict(list)
    for repeat in rounds:
        alone = next((s for s in repeat if not s.subscribers), None)
        for s in repeat:
            by_count[s.subscribers].append((s, alone))
    return by_count


def _ratios(pairs: list[tuple[Stats, Stats | None]]) -> list[float]:
    return [s.run_seconds / a.run_seconds for s, a in pairs if a is not None]


def summary(rounds: list[list[Stats]]) -> None:
    """Medians (min-max) over repeats of every count; the run-time ratio to
    the repeat's own round with nobody watching; live latency commit->recv
    (each repeat's median and p99, their medians over repeats)."""
    print()
    print(f"over {len(rounds)} repeats: median (min-max)")
    head = (
        f"{'subs':>5} {'run s':>18} {'vs none':>18} {'runner cpu s':>18} {'other cpu s':>18}"
        f" {'subs cpu s':>18}"
        f" {'c->r med ms':>11} {'p99':>6} {'all ok':>6}"
    )
    print(head)
    print("-" * len(head))
    for count, pairs in sorted(_by_count(rounds).items()):
        ratios = _ratios(pairs)
        watched = [s for s, _ in pairs if s.subscribers]
        latency = (
            f"{median(s.commit[0] for s in watched) * 1000:>11.1f}"
            f" {median(s.commit[1] for s in watched) * 1000:>6.1f}"
            if watched
            else f"{'-':>11} {'-':>6}"
        )
        print(
            f"{count:>5} {spread([s.run_seconds for s, _ in pairs]):>18}"
            f" {spread(ratios) if ratios else '-':>18}"
            f" {spread([s.runner_cpu for s, _ in pairs]):>18}"
            f" {spread([s.other_cpu for s, _ in pairs]):>18}"
            f" {spread([s.subscriber_cpu for s, _ in pairs]):>18}"
            f" {latency} {'yes' if all(s.complete for s, _ in pairs) else 'NO':>6}"
        )
    loads = [s.load for repeat in rounds for s in repeat]
    print(f"load average at the rounds' ends: {min(loads):.1f}-{max(loads):.1f}")


def _ratio_of_medians(
    before: list[tuple[Stats, Stats | None]],
    after: list[tuple[Stats, Stats | None]],
    value: Callable[[Stats], float],
) -> str:
    old = median(value(s) for s, _ in before)
    return f"{median(value(s) for s, _ in after) / old:.2f}x" if old else "-"


def compare(base: list[list[Stats]], this: list[list[Stats]]) -> None:
    """This checkout's medians over the base's, count by count (the two ran in turns)."""
    print()
    print("this / base, medians over repeats")
    head = f"{'subs':>5} {'run s':>7} {'vs none':>15} {'runner cpu':>10} {'subs cpu':>8}"
    print(head)
    print("-" * len(head))
    before, after = _by_count(base), _by_count(this)
    for count in sorted(set(before) & set(after)):
        b, a = before[count], after[count]
        ratio = functools.partial(_ratio_of_medians, b, a)
        vs_none = (
            f"{median(_ratios(a)):.2f}x / {median(_ratios(b)):.2f}x"
            if count and _ratios(a) and _ratios(b)
            else "-"
        )
        print(
            f"{count:>5} {ratio(lambda s: s.run_seconds):>7} {vs_none:>15}"
            f" {ratio(lambda s: s.runner_cpu):>10} {ratio(lambda s: s.subscriber_cpu):>8}"
        )
