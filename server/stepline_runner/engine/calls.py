"""The calls a run makes to its executors, and what their answers mean: a
result, the executor's own error, or a sign that it lost the run's state."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from stepline.payloads import state_hash
from stepline.v1 import executor_pb2, payload_pb2

from ..store import StateRef
from .features import ServiceFeatures
from .fencing import raise_if_superseded
from .gates import NodeGates
from .graph import Graph
from .late_calls import NOT_RETRIED, NOT_ROLLED_BACK, LateCall, LateCalls
from .observe import (
    ROLLBACK_EXECUTOR_LOST_RUN,
    ROLLBACK_EXECUTOR_RESTARTED,
    ROLLBACK_EXECUTOR_UNREACHABLE,
)
from .ports import ExecutorCallError, ExecutorPort
from .recovery import ExecutorLost


class SaveFailed(Exception):
    """An executor refused SaveCheckpoint (its state too large, say): the run fails."""

    def __init__(self, executor_id: str, cause: ExecutorCallError) -> None:
        super().__init__(
            f"SaveCheckpoint on {executor_id!r} at {cause.endpoint}: {cause.code}: {cause.message}"
        )
        self.executor_id = executor_id


@dataclass
class Outcome:
    executor_id: str
    response: executor_pb2.ExecuteResponse | None = None
    error: payload_pb2.ErrorInfo | None = None
    lost: str = ""  # why the executor may have lost its state
    lost_reason: str = ""  # the same as an observe.ROLLBACK_* name

    @property
    def saved(self) -> executor_pb2.SaveCheckpointResponse | None:
        """The state the service returned with Execute, if it did."""
        if self.response is None or not self.response.HasField("checkpoint"):
            return None
        return self.response.checkpoint


class RunCalls:
    def __init__(
        self,
        executors: ExecutorPort,
        run_id: str,
        graph: Graph,
        epoch: int,
        features: ServiceFeatures | None = None,
        late: LateCalls | None = None,
    ) -> None:
        self.executors = executors
        self.run_id = run_id
        self.graph = graph
        # Sent with every call: services refuse it once a later owner called.
        self.epoch = epoch
        self.features = features or ServiceFeatures(executors)
        # Endpoint -> incarnation id seen: a new one means the service restarted.
        self.incarnations: dict[str, str] = {}
        # Shared with the runner's other runs: nodes' max_concurrent_executes.
        self.gates: NodeGates | None = None
        # Calls that passed their deadline and may still run (late_calls.py),
        # shared with the runner's other runs and its ResumeRun.
        self.late = LateCalls() if late is None else late

    async def execute(
        self,
        executor_id: str,
        step: int,
        messages: list[payload_pb2.Message],
        responses: list[payload_pb2.InputResponse],
        shared_state: Mapping[str, payload_pb2.Payload],
        attempt: int,
        known: StateRef | None = None,
        with_state: bool = False,
    ) -> Outcome:
        """One Execute call, and what its answer means. `with_state`: a
        checkpoint follows, so ask for the state too where the service offers
        it (`known`: the state stored for the executor)."""
        node = self.graph.nodes[executor_id]
        request = executor_pb2.ExecuteRequest(
            run_id=self.run_id,
            executor_id=executor_id,
            executor_type=self.graph.node_type(executor_id),
            superstep=step,
            messages=messages,
            responses=responses,
            shared_state=shared_state,
            attempt=attempt,
            epoch=self.epoch,
        )
        offers = self.features.known(node.endpoint) or await self.features.of(node.endpoint)
        if with_state and offers.state_with_execute:
            request.return_state = True
            request.known_state_hash = known.hash if known else ""
        limit = node.execute_timeout  # ToTimedelta costs more than the rest of this
        timeout = (limit.seconds + limit.nanos / 1e9) or None
        try:
            if timeout is None:
                response = await self._call(executor_id, request, offers.session)
            else:
                response = await self._timed_call(request, offers.session, timeout)
        except ExecutorCallError as exc:
            raise_if_superseded(exc, self.run_id, self.epoch)
            if exc.code == "UNAVAILABLE":
                lost = f"Execute on {executor_id!r}: {exc}"
                return Outcome(executor_id, lost=lost, lost_reason=ROLLBACK_EXECUTOR_UNREACHABLE)
            kind = (
                "ExecuteDeadlineExceeded"
                if exc.code == "DEADLINE_EXCEEDED"
                else "ExecutorCallFailed"
            )
            detail = (
                f"Execute did not return within {timeout:g}s (execute_timeout)"
                if exc.code == "DEADLINE_EXCEEDED" and timeout
                else f"{exc.code}: {exc.message}"
            )
            return Outcome(
                executor_id,
                error=payload_pb2.ErrorInfo(
                    type=kind,
                    message=f"executor {executor_id!r} at {node.endpoint}: {detail}",
                    executor_id=executor_id,
                ),
            )
        restarted = self.restarted(node.endpoint, response.incarnation_id)
        if restarted:
            return Outcome(executor_id, lost=restarted, lost_reason=ROLLBACK_EXECUTOR_RESTARTED)
        if response.HasField("error"):
            error = payload_pb2.ErrorInfo()
            error.CopyFrom(response.error)
            error.executor_id = executor_id
            return Outcome(executor_id, error=error)
        return Outcome(executor_id, response=response)

    async def _call(
        self,
        executor_id: str,
        request: executor_pb2.ExecuteRequest,
        session: bool,
        deadline: float | None = None,
        made: asyncio.Event | None = None,
    ) -> executor_pb2.ExecuteResponse:
        """The Execute call, once the node's max_concurrent_executes lets it
        be made (`made` is set then)."""
        node = self.graph.nodes[executor_id]
        gate = self.gates.for_node(self.graph.workflow_id, node) if self.gates else None
        if gate is None:  # no limit (most nodes): no slot to take, no context to enter
            if made is not None:
                made.set()
            return await self.executors.execute(node.endpoint, request, deadline, session=session)
        async with gate.slot():
            if made is not None:
                made.set()
            return await self.executors.execute(node.endpoint, request, deadline, session=session)

    async def _timed_call(
        self, request: executor_pb2.ExecuteRequest, session: bool, timeout: float
    ) -> executor_pb2.ExecuteResponse:
        """The call under the node's execute_timeout, which starts once the
        call is made. Past it the call is given as much again to end (its
        own deadline), and kept in `late`: its handler may still be running,
        and nothing may put the executor back under it."""
        executor_id = request.executor_id
        made = asyncio.Event()
        call = self._call(executor_id, request, session, 2 * timeout, made)
        task = asyncio.ensure_future(call)
        made_wait = asyncio.ensure_future(made.wait())
        try:
            await asyncio.wait({task, made_wait}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                await asyncio.wait({task}, timeout=timeout)
        except asyncio.CancelledError:
            task.cancel()  # the run is stopped: its call with it
            raise
        finally:
            made_wait.cancel()
        if task.done():
            return task.result()
        endpoint = self.graph.nodes[executor_id].endpoint
        step = request.superstep
        self.late.add(LateCall(self.run_id, executor_id, endpoint, step, timeout, task))
        raise ExecutorCallError(endpoint, "DEADLINE_EXCEEDED", "")

    async def late_call(self, executor_id: str) -> Outcome | None:
        """Wait for the end of the executor's call that passed its deadline,
        if it has one; the outcome that fails the run, not retried, when the
        call outlived its second deadline too (its handler may still run)."""
        for call in await self.late.outlived(self.run_id, [executor_id]):
            return Outcome(executor_id, error=call.error(NOT_RETRIED))
        return None

    async def rollback_refused(self) -> payload_pb2.ErrorInfo | None:
        """Wait for the run's calls past their deadline before its executors
        are all put back; the run's error when one outlived its second
        deadline (its handler may run on, over the restored state)."""
        for call in await self.late.outlived(self.run_id):
            return call.error(NOT_ROLLED_BACK)
        return None

    def restored(self, incarnations: Mapping[str, str]) -> None:
        """The executors were restored; these incarnations answered."""
        self.incarnations = dict(incarnations)
        for endpoint, incarnation_id in incarnations.items():
            self.features.seen(endpoint, incarnation_id)

    def restarted(self, endpoint: str, incarnation_id: str) -> str:
        """Why the service at `endpoint` lost its memory, or "" if it did not."""
        self.features.seen(endpoint, incarnation_id)
        known = self.incarnations.setdefault(endpoint, incarnation_id)
        if incarnation_id and known and incarnation_id != known:
            return f"executor service at {endpoint} restarted ({known} -> {incarnation_id})"
        return ""

    async def save_states(
        self,
        known_states: Mapping[str, StateRef],
        executor_ids: list[str],
        returned: Mapping[str, executor_pb2.SaveCheckpointResponse] | None = None,
    ) -> dict[str, StateRef]:
        """Collect the state of every executor that ran, in parallel: the
        others' states cannot have changed, so their last saved state stands.
        `known_states` are the states already stored, by executor id;
        `returned` the states that came back with Execute (no call for them)."""
        returned = returned or {}
        # One call is awaited as it is, several at once: no task for what needs none.
        saved = {x: reference(known_states.get(x), r) for x, r in returned.items()}
        called = [x for x in executor_ids if x not in returned]
        if len(called) == 1:
            saved.update([await self._save(known_states, called[0])])
        elif called:
            saved.update(await asyncio.gather(*(self._save(known_states, x) for x in called)))
        return {x: saved[x] for x in executor_ids}  # in the order asked

    async def _save(
        self, known_states: Mapping[str, StateRef], executor_id: str
    ) -> tuple[str, StateRef]:
        """SaveCheckpoint on one executor, and the state it gives."""
        known = known_states.get(executor_id)
        node = self.graph.nodes[executor_id]
        try:
            response = await self.executors.save(
                node.endpoint,
                executor_pb2.SaveCheckpointRequest(
                    run_id=self.run_id,
                    executor_id=executor_id,
                    executor_type=self.graph.node_type(executor_id),
                    known_state_hash=known.hash if known else "",
                    epoch=self.epoch,
                ),
            )
        except ExecutorCallError as exc:
            raise_if_superseded(exc, self.run_id, self.epoch)
            # FAILED_PRECONDITION: it holds no object for the run any more.
            if exc.code in ("UNAVAILABLE", "FAILED_PRECONDITION"):
                reason = (
                    ROLLBACK_EXECUTOR_UNREACHABLE
                    if exc.code == "UNAVAILABLE"
                    else ROLLBACK_EXECUTOR_LOST_RUN
                )
                message = f"SaveCheckpoint on {executor_id!r}: {exc}"
                raise ExecutorLost(message, reason) from exc
            raise SaveFailed(executor_id, exc) from exc
        restarted = self.restarted(node.endpoint, response.incarnation_id)
        if restarted:
            raise ExecutorLost(restarted, ROLLBACK_EXECUTOR_RESTARTED)
        return executor_id, reference(known, response)


def reference(known: StateRef | None, response: executor_pb2.SaveCheckpointResponse) -> StateRef:
    """The state a SaveCheckpoint answer (or Execute's copy of one) gives,
    with its bytes only where they differ from the `known` stored state."""
    if response.unchanged and known is not None:
        return StateRef(known.hash, known.type_name, known.content_type)
    p = response.state
    digest = state_hash(p)
    data = None if known is not None and known.hash == digest else p.data
    return StateRef(digest, p.type_name, p.content_type, data)
