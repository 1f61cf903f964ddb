"""`EpochFence`: an executor service's memory of the highest epoch each run
was called with, so that a runner another runner has superseded cannot
change the run's executor state any more.

A runner raises a run's epoch each time it takes the run over and sends it
with every call for the run (executor.proto, "Fencing"). Once a service has
seen epoch N for a run, a call with a lower one is refused (`StaleEpoch`,
FAILED_PRECONDITION with reason STALE_EPOCH on the wire). Epoch 0 is a caller
that does not fence (a runner from before epochs, a tool): it is served and
leaves the fence as it is, since a fencing runner and one from before epochs
cannot share a database (the schema version keeps the older one out).

The fence of a run outlives its EndRun, for the `ENDED_RUNS` most recently
ended runs: a superseded runner that calls after the new owner ended the run
is refused rather than served a fresh object nobody would release.

Its memory is bounded for runs whose EndRun never arrives too (their runner
died for good, say): it keeps at most `LIVE_RUNS` runs un-ended, and once
over, forgets the run it was called for least recently. The service then
releases that run's objects (`on_forget`), and the run joins the ended ones,
refused at every epoch up to the last it saw (`ForgottenRun`, a `StaleEpoch`,
the same one included): served at that epoch, its runner would get fresh
objects where it left state. That runner sees no takeover in its store, so
it fails the run, resumable; a resume takes a new epoch and restores the
executors from the last checkpoint, which the fence admits.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from stepline.reasons import Reason

__all__ = ["ENDED_RUNS", "LIVE_RUNS", "EpochFence", "ForgottenRun", "StaleEpoch"]

ENDED_RUNS = 65536
LIVE_RUNS = 65536


class StaleEpoch(Exception):
    """A call for a run with an older epoch than the service has seen for it."""

    reason = Reason.STALE_EPOCH

    def __init__(self, run_id: str, epoch: int, seen: int, message: str = "") -> None:
        super().__init__(
            message
            or f"run {run_id[:128]!r}: epoch {epoch} is older than epoch {seen}, which this "
            "service has seen for the run: another runner took the run over, so this caller "
            "must stop driving it"
        )
        self.run_id = run_id
        self.epoch = epoch
        self.seen = seen

    @property
    def metadata(self) -> dict[str, str]:
        """What the status details carry besides the reason."""
        return {"run_id": self.run_id[:128], "epoch": str(self.epoch), "seen_epoch": str(self.seen)}


class ForgottenRun(StaleEpoch):
    """A call for a run the service forgot (with its objects) while it was
    live, at an epoch no later than the last it saw."""

    def __init__(self, run_id: str, epoch: int, seen: int, live_runs: int) -> None:
        super().__init__(
            run_id,
            epoch,
            seen,
            f"run {run_id[:128]!r}: this service forgot the run at epoch {seen} and released "
            f"its executor objects (it keeps {live_runs} runs without EndRun, and was called "
            f"for that many others since), so epoch {epoch} is refused: resume the run from "
            "its last checkpoint (at a new epoch, which restores its executors)",
        )


class EpochFence:
    """The highest epoch seen per run: at most `live_runs` live runs (the
    least recently called forgotten first, `on_forget` told of each), and the
    last `ended_runs` ended or forgotten ones."""

    def __init__(
        self,
        ended_runs: int | None = None,
        live_runs: int | None = None,
        on_forget: Callable[[str], object] | None = None,
    ) -> None:
        self._live: OrderedDict[str, int] = OrderedDict()
        # run_id -> (highest epoch seen, forgotten rather than ended), oldest first.
        self._ended: OrderedDict[str, tuple[int, bool]] = OrderedDict()
        self._ended_runs = ENDED_RUNS if ended_runs is None else ended_runs
        self._live_runs = LIVE_RUNS if live_runs is None else live_runs
        self._on_forget = on_forget

    def admit(self, run_id: str, epoch: int) -> None:
        """Let a call with `epoch` through, raising the run's fence to it;
        `StaleEpoch` if the fence is higher (`ForgottenRun`: or as high, for
        a forgotten run). Epoch 0 always passes."""
        if epoch <= 0:
            return
        live = self._live.get(run_id)
        if live is not None:
            if epoch < live:
                raise StaleEpoch(run_id, epoch, live)
            self._live[run_id] = max(epoch, live)
            self._live.move_to_end(run_id)
            return
        seen, forgotten = self._ended.get(run_id, (0, False))
        if forgotten and epoch <= seen:
            raise ForgottenRun(run_id, epoch, seen, self._live_runs)
        if epoch < seen:
            raise StaleEpoch(run_id, epoch, seen)
        if epoch == seen:
            return  # an ended run at its last epoch: still ended
        self._ended.pop(run_id, None)
        self._live[run_id] = epoch
        while len(self._live) > self._live_runs:
            oldest, last = self._live.popitem(last=False)
            self._close(oldest, last, forgotten=True)
            if self._on_forget is not None:
                self._on_forget(oldest)

    def seen(self, run_id: str) -> int:
        """The highest epoch seen for the run (0: none)."""
        return self._live.get(run_id) or self._ended.get(run_id, (0, False))[0]

    def end(self, run_id: str, epoch: int) -> bool:
        """The run ended (EndRun with `epoch`): False if `epoch` is stale, and
        the run's objects must stay. The fence is kept among the ended runs'.
        A run not live here is recorded as ended, never admitted as live (that
        could make the service forget a live run's objects)."""
        if epoch > 0 and run_id not in self._live:
            seen, forgotten = self._ended.get(run_id, (0, False))
            if epoch < seen or (forgotten and epoch <= seen):
                return False
            if epoch > seen:
                self._close(run_id, epoch, forgotten=False)
            return True
        try:
            self.admit(run_id, epoch)
        except StaleEpoch:
            return False
        seen = self._live.pop(run_id, 0)
        if seen:
            self._close(run_id, seen, forgotten=False)
        return True

    def _close(self, run_id: str, seen: int, *, forgotten: bool) -> None:
        self._ended[run_id] = (seen, forgotten)
        self._ended.move_to_end(run_id)
        while len(self._ended) > self._ended_runs:
            self._ended.popitem(last=False)
