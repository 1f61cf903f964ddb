"""How the runner's process uses Python's cyclic garbage collector.

The runner frees almost everything by reference counting; the collector only
finds reference cycles. With its default threshold it looked at the youngest
generation every 700 net allocations of container objects, and each time at
every object a run in flight holds (its coroutines, futures, messages): at
500 runs at once that was 0.2-0.4 ms of CPU per 3-superstep run, a tenth of
the runner's whole cost. Collecting ten times less often holds at most
that many more objects in cycles unfreed meanwhile (a few megabytes at
worst), and what start-up made (modules, protobuf descriptors, the graphs
compiled) is kept out of every later collection.
"""

from __future__ import annotations

import gc

# CPython's default is 700; the older generations keep theirs (10, 10).
YOUNG_THRESHOLD = 7_000


def tune_collector() -> None:
    """Once start-up is done and before any run exists (`start_runner`'s
    `before_runs`; a run frozen would never have its cycles collected):
    freeze what start-up made, and collect the youngest generation every
    `YOUNG_THRESHOLD` net allocations."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
