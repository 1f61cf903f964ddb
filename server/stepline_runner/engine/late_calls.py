"""Execute calls that passed their node's execute_timeout and may still be
running: the one wait before anything puts a run's executors back.

Past its execute_timeout a call counts as failed, but its handler may still
be working (and changing what the executor holds), so the call keeps a
deadline of twice that and is kept here, by run, until it ends. A retry of
the executor, a rollback of the whole run and a ResumeRun each wait here
first (`LateCalls.outlived`): RestoreCheckpoint then cannot land under a
handler that would overwrite what it put back. A call that outlived its
second deadline too is what they report: its handler may run on still, so
they do not restore (the retry and the rollback fail the run, ResumeRun is
refused once) rather than restore under it.

Runner-wide: the driver that made the call may be gone (the run failed or
was cancelled) when a ResumeRun comes.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from stepline.v1 import executor_pb2, payload_pb2

from .errors import FailedPrecondition, Reason
from .ports import ExecutorCallError

# Runs whose calls outlived their second deadline, remembered until someone
# waits for them: past this many the oldest are forgotten (a run failed so
# long ago is not resumed beside its handler by anyone but a human).
MAX_OUTLIVED_RUNS = 1024

# What each waiter did not do when a call outlived its second deadline.
NOT_RETRIED = "not retried, so that a retry cannot run beside a handler that may still run"
NOT_ROLLED_BACK = (
    "the run is not rolled back, so that a handler that may still run cannot change the "
    "restored state; it can be resumed from its latest checkpoint"
)


@dataclass(frozen=True)
class LateCall:
    """One call past its execute_timeout (`timeout`, in seconds)."""

    run_id: str
    executor_id: str
    endpoint: str
    superstep: int
    timeout: float
    task: asyncio.Task[executor_pb2.ExecuteResponse]

    @property
    def outlived(self) -> bool:
        """Whether it ended at its own deadline, twice execute_timeout: its
        handler may be running still."""
        if not self.task.done() or self.task.cancelled():
            return False
        exc = self.task.exception()
        return isinstance(exc, ExecutorCallError) and exc.code == "DEADLINE_EXCEEDED"

    def why(self) -> str:
        """What happened, for a person: the start of the error's message."""
        return (
            f"executor {self.executor_id!r} at {self.endpoint}: Execute of superstep "
            f"{self.superstep} did not return within {2 * self.timeout:g}s (twice its "
            "execute_timeout)"
        )

    def error(self, not_done: str) -> payload_pb2.ErrorInfo:
        """The run's error when it outlived: `not_done` says what was not
        done because of it, and why."""
        return payload_pb2.ErrorInfo(
            type="ExecuteDeadlineExceeded",
            message=f"{self.why()}; {not_done}",
            executor_id=self.executor_id,
            non_retryable=True,
        )


class LateCalls:
    def __init__(self) -> None:
        # run id -> executor id -> its late call, in flight or outlived.
        self._runs: OrderedDict[str, dict[str, LateCall]] = OrderedDict()

    def add(self, call: LateCall) -> None:
        """Keep `call` until it ends; one that ends otherwise than at its
        deadline is forgotten then (the executor may be put back)."""
        self._runs.setdefault(call.run_id, {})[call.executor_id] = call
        call.task.add_done_callback(lambda _: self._ended(call))

    def pending(self, run_id: str) -> bool:
        """Whether the run has late calls in flight or outlived."""
        return run_id in self._runs

    async def settled(self, run_id: str, executor_ids: Iterable[str] | None = None) -> None:
        """Wait for the end of the run's late calls (those of `executor_ids`),
        each bounded by its own deadline; forgets nothing."""
        tasks = {c.task for c in self._of(run_id, executor_ids)}
        if tasks:
            await asyncio.wait(tasks)

    def take_outlived(
        self, run_id: str, executor_ids: Iterable[str] | None = None
    ) -> list[LateCall]:
        """Forget the run's late calls that ended (those of `executor_ids`):
        the ones that outlived their own deadline, whose handlers may be
        running still."""
        ended = [c for c in self._of(run_id, executor_ids) if c.task.done()]
        for call in ended:
            self._forget(call)
        return [c for c in ended if c.outlived]

    async def outlived(
        self, run_id: str, executor_ids: Iterable[str] | None = None
    ) -> list[LateCall]:
        """`settled`, then `take_outlived`. Cancelled while waiting, it
        forgets nothing: the next wait waits again."""
        await self.settled(run_id, executor_ids)
        return self.take_outlived(run_id, executor_ids)

    def _of(self, run_id: str, executor_ids: Iterable[str] | None) -> list[LateCall]:
        calls = self._runs.get(run_id, {})
        only = None if executor_ids is None else frozenset(executor_ids)
        return [c for x, c in calls.items() if only is None or x in only]

    def _ended(self, call: LateCall) -> None:
        if call.task.cancelled():
            self._forget(call)
            return
        call.task.exception()  # read here: nobody else may ever look
        if not call.outlived:
            self._forget(call)
            return
        self._runs.move_to_end(call.run_id)
        if len(self._runs) > MAX_OUTLIVED_RUNS:
            # The oldest run all of whose calls ended; one in flight is waited for.
            ended = (r for r, c in self._runs.items() if all(x.task.done() for x in c.values()))
            old = next(ended, None)
            if old is not None:
                del self._runs[old]

    def _forget(self, call: LateCall) -> None:
        calls = self._runs.get(call.run_id)
        if calls is not None and calls.get(call.executor_id) is call:
            del calls[call.executor_id]
            if not calls:
                del self._runs[call.run_id]


def refuse_resume(late: LateCalls, run_id: str) -> None:
    """Before a ResumeRun puts the run's executors back (once `settled`):
    FailedPrecondition for a late call that outlived its second deadline,
    once (it is forgotten then)."""
    for call in late.take_outlived(run_id):
        raise FailedPrecondition(
            f"{call.why()} and may still be running; the run's executors were not put back "
            "under it: resume the run again once that handler has stopped",
            reason=Reason.LATE_CALL_RUNNING,
            context={"run_id": run_id, "executor_id": call.executor_id},
        )
