"""The caps the runner puts on what callers send, in one place.

Each has a default; `stepline-runner --limit NAME=VALUE` changes it. Some have
a ceiling too: past it the CEL library's native code crashes, or a cap would
no longer protect anything.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    # Seconds one condition or selection may take on one message.
    cel_budget: float = 1.0
    # Size (UTF-8 bytes) and bracket nesting of one CEL expression.
    expression_bytes: int = 4096
    expression_nesting: int = 32
    # Characters of a workflow, executor, run, checkpoint or request id.
    id_length: int = 128
    # Per workflow definition: executors, edges, serialized bytes.
    executors: int = 1000
    edges: int = 10_000
    definition_bytes: int = MIB
    # Events a WatchRuns subscriber may have waiting before it is ended.
    watch_buffer_bytes: int = 16 * MIB
    # Streams of events (WatchRun, WatchRuns) one principal has open at once.
    watchers: int = 1000
    # Schedules a namespace holds at most (each namespace its own count);
    # the runner holds `schedules_in_all`.
    schedules: int = 10_000

    @property
    def schedules_in_all(self) -> int:
        """Schedules the runner holds at most, whatever the namespaces (there
        may be any number): the scheduler keeps each one's next moment in
        memory. Ten namespaces' worth, but no more than one namespace may
        hold at most (and never fewer than one may)."""
        return max(
            self.schedules, min(SCHEDULES_IN_ALL * self.schedules, int(CEILINGS["schedules"]))
        )

    @classmethod
    def parse(cls, items: list[str]) -> Limits:
        """Defaults changed by NAME=VALUE items; ValueError says what is wrong."""
        changes: dict[str, float | int] = {}
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for item in items:
            name, _, text = item.partition("=")
            name = name.strip().replace("-", "_")
            if name not in fields or not text:
                raise ValueError(
                    f"--limit {item[:60]!r}: expected NAME=VALUE with NAME one of "
                    f"{', '.join(fields)}"
                )
            kind = float if fields[name].type == "float" else int
            try:
                changes[name] = kind(text)
            except ValueError:
                raise ValueError(f"--limit {name}: {text[:40]!r} is not a number") from None
        limits = cls(**changes)  # type: ignore[arg-type]
        limits.check()
        return limits

    def check(self) -> None:
        for name, value in dataclasses.asdict(self).items():
            if not value > 0:  # also refuses nan, which compares false to everything
                raise ValueError(f"--limit {name}: must be positive, not {value}")
        for name, ceiling in CEILINGS.items():
            if getattr(self, name) > ceiling:
                shown = f"{int(ceiling):,}" if ceiling == int(ceiling) else f"{ceiling:g}"
                raise ValueError(f"--limit {name}: at most {shown}")


# Namespaces' worth of schedules the runner holds at most (`schedules_in_all`).
SCHEDULES_IN_ALL = 10

CEILINGS: dict[str, float] = {
    "cel_budget": 60.0,
    # The library crashes from ~15,000 terms (`1+1+...`, 30 KB) on evaluation.
    "expression_bytes": 16_384,
    # Its parser refuses from ~100 levels anyway.
    "expression_nesting": 64,
    "id_length": 1024,
    # A graph that large takes seconds to check and route; and no definition
    # of 64 MiB holds more.
    "executors": 100_000,
    "edges": 1_000_000,
    "definition_bytes": 64 * MIB,
    # Per subscriber: higher, a few slow watchers could hold the runner's memory.
    "watch_buffer_bytes": 1024 * MIB,
    "watchers": 1_000_000,
    "schedules": 1_000_000,
}
