"""News of other runners' commits (several runners on one database): what a
notification on the channel says, read without trusting it.

A payload is "<runner> <first sequence> <flag> <run id>", the run id last
so that it may hold spaces; flag "c" for a commit of events, "n" for a run
created for any runner to drive (postgres_runners.hand_out); "s" (with a
schedule id for the run id) for a schedule created, changed or deleted.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Committed:
    """What a notification says: another runner committed events of the run
    from sequence `first` on, or (`unowned`) created it for any runner to
    drive. A hint only: anyone who may connect may notify, so the events
    table is read for what happened, and the run's row for where it belongs."""

    run_id: str
    first: int = 0
    unowned: bool = False


@dataclass(frozen=True)
class ScheduleChanged:
    """Another runner created, changed or deleted the schedule (a hint: the
    schedules table says how it is)."""

    schedule_id: str


News = Committed | ScheduleChanged

# "" reconnected: whatever was announced meanwhile is lost.
RECONNECTED = Committed("")
# The longest payload read: an owner, a sequence, a flag and a run id.
PAYLOAD_LENGTH = 1024


def parse(payload: str, runner_id: str) -> News | None:
    """The notification of another runner's commit, None for this runner's
    own or one that is not a Stepline runner's."""
    if len(payload) > PAYLOAD_LENGTH:
        return None
    parts = payload.split(" ", 3)
    if len(parts) != 4 or parts[0] == runner_id or parts[2] not in ("c", "n", "s"):
        return None
    _, first, flag, run_id = parts
    if not (first.isascii() and first.isdigit()) or len(first) > 18 or not run_id:
        return None
    if flag == "s":
        return ScheduleChanged(run_id)
    return Committed(run_id, int(first), flag == "n")
