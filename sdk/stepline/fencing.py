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
"""

from __future__ import annotations

from collections import OrderedDict

from stepline.reasons import Reason

__all__ = ["ENDED_RUNS", "EpochFence", "StaleEpoch"]

ENDED_RUNS = 65536


class StaleEpoch(Exception):
    """A call for a run with an older epoch than the service has seen for it."""

    reason = Reason.STALE_EPOCH

    def __init__(self, run_id: str, epoch: int, seen: int) -> None:
        super().__init__(
            f"run {run_id[:128]!r}: epoch {epoch} is older than epoch {seen}, which this "
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


class EpochFence:
    """The highest epoch seen per run: live runs, and the last ended ones."""

    def __init__(self, ended_runs: int = ENDED_RUNS) -> None:
        self._live: dict[str, int] = {}
        self._ended: OrderedDict[str, int] = OrderedDict()
        self._ended_runs = ended_runs

    def admit(self, run_id: str, epoch: int) -> None:
        """Let a call with `epoch` through, raising the run's fence to it;
        `StaleEpoch` if the fence is higher. Epoch 0 always passes."""
        if epoch <= 0:
            return
        seen = self.seen(run_id)
        if epoch < seen:
            raise StaleEpoch(run_id, epoch, seen)
        if epoch > seen:
            self._ended.pop(run_id, None)
            self._live[run_id] = epoch

    def seen(self, run_id: str) -> int:
        """The highest epoch seen for the run (0: none)."""
        return self._live.get(run_id) or self._ended.get(run_id, 0)

    def end(self, run_id: str, epoch: int) -> bool:
        """The run ended (EndRun with `epoch`): False if `epoch` is stale, and
        the run's objects must stay. The fence is kept among the ended runs'."""
        try:
            self.admit(run_id, epoch)
        except StaleEpoch:
            return False
        seen = self._live.pop(run_id, 0)
        if seen:
            self._ended[run_id] = seen
            self._ended.move_to_end(run_id)
            while len(self._ended) > self._ended_runs:
                self._ended.popitem(last=False)
        return True
