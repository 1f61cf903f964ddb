"""Epochs: how a runner that was superseded learns it, and lets go.

Each time a runner takes a run over (starts it, picks it up after a restart
or from another runner, resumes it, answers it) the store raises the run's
epoch (`Store.claim_run`). Everything the driver does for the run carries that
epoch: its commits, which the store refuses once the epoch moved on, and its
executor calls, which the executor services refuse once they saw a later one
(executor.proto, "Fencing"). Either refusal is a `StaleEpoch`: the driver
stops at once, commits nothing more and leaves the run to its new owner.
"""

from __future__ import annotations

from ..errors import Reason, StaleEpoch
from .ports import ExecutorCallError

__all__ = ["StaleEpoch", "raise_if_superseded"]


def raise_if_superseded(exc: ExecutorCallError, run_id: str, epoch: int) -> None:
    """`StaleEpoch` if the executor service refused the call because it saw a
    later epoch of the run; otherwise nothing (the caller handles `exc`)."""
    if exc.reason == Reason.STALE_EPOCH:
        # Its words too: a service that forgot the run (fencing.py of the SDK)
        # refuses the current epoch as well, and says what to do.
        said = exc.message if len(exc.message) <= 400 else exc.message[:400] + "..."
        raise StaleEpoch(
            run_id, epoch, f"the executor service at {exc.endpoint} has seen a later epoch: {said}"
        ) from exc
