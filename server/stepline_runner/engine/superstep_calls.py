"""`SuperstepCalls`: the Execute calls of a run's supersteps. All of a
superstep's go out at once, each with its `attempt` (how often the superstep
was delivered since the last checkpoint, plus the executor's retries in it
under its retry policy); failed ones are retried (`retries.retry_failed`),
each retry logged (RETRY_SCHEDULED) and its executor's state put back first.

The last superstep's commit may still be under way while the calls are
(RunCommits.begin): it lands before anything else is done with them (a
retry's restore reads its checkpoint), and one that failed raises here, the
calls' outcomes dropped, as if it had failed before they were made.
"""

from __future__ import annotations

import asyncio

from stepline.v1 import events_pb2, workflow_pb2

from ..store import Store
from .calls import Outcome, RunCalls
from .commits import RunCommits
from .ports import ExecutorPort
from .retries import next_pause, restore_before_retry, retry_event, retry_failed
from .state import RunState
from .superstep import Delivery, checkpoint_due, failed_events

E = events_pb2


class SuperstepCalls:
    def __init__(
        self,
        calls: RunCalls,
        commits: RunCommits,
        store: Store,
        executors: ExecutorPort,
        policy: workflow_pb2.CheckpointPolicy,
    ) -> None:
        self.calls = calls
        self.commits = commits
        self.store = store
        self.executors = executors
        self.policy = policy
        # How often each superstep since the last checkpoint was delivered,
        # and (superstep, executor id) -> its retries under its retry policy.
        self.deliveries: dict[int, int] = {}
        self.retried: dict[tuple[int, str], int] = {}
        self._logging = asyncio.Lock()  # RETRY_SCHEDULED commits, one at a time

    def checkpointed(self) -> None:
        """A checkpoint was taken: attempts count from it."""
        self.deliveries.clear()
        self.retried.clear()

    async def run(
        self, state: RunState, delivery: Delivery, started: list[events_pb2.Event]
    ) -> list[Outcome]:
        """The outcomes of the superstep's calls, the failed ones retried
        while their policies say so; `started`: its events so far, which the
        first retry logs (and clears)."""
        step = delivery.step
        outcomes = await self._execute(state, delivery)
        await self.commits.wait()  # the last superstep's commit went on meanwhile
        if not any(o.error is not None for o in outcomes):  # no retry bookkeeping then
            return outcomes
        return await retry_failed(
            outcomes,
            lambda o: next_pause(state.graph, o, self._attempt(step, o.executor_id)),
            lambda o, pause: self._scheduled(state, step, o, pause, started),
            lambda x: self._again(state, delivery, x),
        )

    async def _execute(self, state: RunState, delivery: Delivery) -> list[Outcome]:
        step = delivery.step
        self.deliveries[step] = self.deliveries.get(step, 0) + 1
        if len(delivery.invoked) == 1:  # no task to gather, in a loop of one executor
            return [await self._call(state, delivery, delivery.invoked[0])]
        return await asyncio.gather(*(self._call(state, delivery, x) for x in delivery.invoked))

    async def _call(self, state: RunState, delivery: Delivery, executor_id: str) -> Outcome:
        step = delivery.step
        return await self.calls.execute(
            executor_id,
            step,
            delivery.inboxes.get(executor_id, []),
            delivery.responses.get(executor_id, []),
            state.shared_state,
            attempt=self._attempt(step, executor_id),
            known=state.states.get(executor_id),
            # A checkpoint surely follows (a run that stops running gets one
            # too, but whether it stops is known only after): ask for the state.
            with_state=checkpoint_due(self.policy, step, E.RUN_STATUS_RUNNING),
        )

    def _attempt(self, step: int, executor_id: str) -> int:
        return self.deliveries[step] + self.retried.get((step, executor_id), 0)

    async def _scheduled(
        self,
        state: RunState,
        step: int,
        outcome: Outcome,
        pause: float,
        started: list[events_pb2.Event],
    ) -> None:
        """Log the failed call and RETRY_SCHEDULED, after the superstep's
        `started` events (the first retry takes them): now, or with the held
        supersteps' events, after them."""
        assert outcome.error is not None
        attempt = self._attempt(step, outcome.executor_id) + 1
        events = [
            *started,
            *failed_events(step, [outcome.error]),
            retry_event(state.graph, step, outcome, attempt, pause),
        ]
        started.clear()  # logged here, not again with the superstep's end
        commits = self.commits
        if commits.held:
            commits.held += events
            return
        async with self._logging:
            await commits.commit(events, commits.status, state.superstep)

    async def _again(self, state: RunState, delivery: Delivery, executor_id: str) -> Outcome:
        """Call the executor again with the same delivery, its state first
        put back to the last checkpoint's so the failed call leaves no trace."""
        step = delivery.step
        late = await self.calls.late_call(executor_id)  # past its deadline, maybe still running
        if late is not None:
            return late
        # The last checkpoint holds its state as the failed call found it
        # (unsaved_retrying sees to it under sparse checkpoint policies).
        await restore_before_retry(self.store, self.executors, self.calls, state, executor_id)
        key = (step, executor_id)
        self.retried[key] = self.retried.get(key, 0) + 1
        return await self._call(state, delivery, executor_id)
