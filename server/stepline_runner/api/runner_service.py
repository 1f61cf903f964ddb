"""`RunnerService` over gRPC: unpack the request, call the `Runner`, pack the
answer. Engine errors become gRPC statuses in one place, `_status`, with
their reason in the details (see error_details)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from stepline.v1 import runner_pb2, runner_pb2_grpc

from ..engine import errors
from ..engine.runner import Runner
from ..engine.tenancy import Tenant
from .auth import CALLER
from .error_details import abort, reason_of

T = TypeVar("T")
if TYPE_CHECKING:
    Ctx = grpc.aio.ServicerContext[Any, Any]

_CODES: list[tuple[type[Exception], grpc.StatusCode]] = [
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
    (errors.ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.DataLoss, grpc.StatusCode.DATA_LOSS),
]


_ERRORS = tuple(e for e, _ in _CODES)


async def _status(context: Ctx, call: Awaitable[T]) -> T:
    try:
        return await call
    except _ERRORS as exc:
        await _abort(context, exc)
        raise  # abort raises; this keeps type checkers informed


async def _abort(context: Ctx, exc: Exception) -> None:
    code = next(c for e, c in _CODES if isinstance(exc, e))
    await abort(context, code, str(exc), *reason_of(exc))


def _tenant(runner: Runner) -> Tenant:
    """The runner as the caller's namespace sees it (auth.Authorizer, on every
    call, found the caller and checked its role there)."""
    caller = CALLER.get()
    if caller is None:
        raise RuntimeError("RunnerService runs behind auth.Authorizer")
    return Tenant(runner, caller.namespace, caller.principal)


class RunnerServicer(runner_pb2_grpc.RunnerServiceServicer):
    """Thin: each call unpacks its request for the caller's `Tenant` and packs
    the answer."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    async def RegisterWorkflow(
        self, request: runner_pb2.RegisterWorkflowRequest, context: Ctx
    ) -> runner_pb2.RegisterWorkflowResponse:
        signature, version = await _status(
            context, _tenant(self.runner).register_workflow(request.workflow)
        )
        return runner_pb2.RegisterWorkflowResponse(
            workflow_id=request.workflow.workflow_id, graph_signature=signature, version=version
        )

    async def GetWorkflow(
        self, request: runner_pb2.GetWorkflowRequest, context: Ctx
    ) -> runner_pb2.GetWorkflowResponse:
        stored = await _status(
            context, _tenant(self.runner).get_workflow(request.workflow_id, request.version)
        )
        return runner_pb2.GetWorkflowResponse(
            workflow=stored.definition, graph_signature=stored.signature, version=stored.version
        )

    async def ListWorkflows(
        self, request: runner_pb2.ListWorkflowsRequest, context: Ctx
    ) -> runner_pb2.ListWorkflowsResponse:
        workflows, token = await _status(
            context, _tenant(self.runner).list_workflows(request.page_size, request.page_token)
        )
        return runner_pb2.ListWorkflowsResponse(workflows=workflows, next_page_token=token)

    async def StartRun(
        self, request: runner_pb2.StartRunRequest, context: Ctx
    ) -> runner_pb2.StartRunResponse:
        policy = request.checkpoint_policy if request.HasField("checkpoint_policy") else None
        run = await _status(
            context,
            _tenant(self.runner).start_run(
                request.workflow_id, request.input, request.run_id, policy
            ),
        )
        return runner_pb2.StartRunResponse(run=run)

    async def GetRun(
        self, request: runner_pb2.GetRunRequest, context: Ctx
    ) -> runner_pb2.GetRunResponse:
        return runner_pb2.GetRunResponse(
            run=await _status(context, _tenant(self.runner).get_run(request.run_id))
        )

    async def ListRuns(
        self, request: runner_pb2.ListRunsRequest, context: Ctx
    ) -> runner_pb2.ListRunsResponse:
        runs, token = await _status(
            context,
            _tenant(self.runner).list_runs(
                request.workflow_id, request.page_size, request.page_token, *_filters(request)
            ),
        )
        return runner_pb2.ListRunsResponse(runs=runs, next_page_token=token)

    async def DeleteRun(
        self, request: runner_pb2.DeleteRunRequest, context: Ctx
    ) -> runner_pb2.DeleteRunResponse:
        deleted = await _status(context, _tenant(self.runner).delete_run(request.run_id))
        return runner_pb2.DeleteRunResponse(
            checkpoints_removed=deleted.checkpoints,
            events_removed=deleted.events,
            blobs_removed=deleted.blobs,
        )

    async def CancelRun(
        self, request: runner_pb2.CancelRunRequest, context: Ctx
    ) -> runner_pb2.CancelRunResponse:
        return runner_pb2.CancelRunResponse(
            run=await _status(context, _tenant(self.runner).cancel_run(request.run_id))
        )

    # Both yield a response's bytes (`Batch.wire`), registered to pass through;
    # errors are mapped around the whole stream, not once per response.
    async def WatchRun(  # type: ignore[override]
        self, request: runner_pb2.WatchRunRequest, context: Ctx
    ) -> AsyncIterator[bytes]:
        batches = _tenant(self.runner).watch(
            request.run_id, request.after_sequence, request.kinds, request.follow_after_end
        )
        try:
            async for batch in batches:
                yield batch.wire
        except _ERRORS as exc:
            await _abort(context, exc)
            raise

    async def WatchRuns(  # type: ignore[override]
        self, request: runner_pb2.WatchRunsRequest, context: Ctx
    ) -> AsyncIterator[bytes]:
        batches = _tenant(self.runner).watch_all(request.workflow_id, request.kinds)
        subscribed = False
        try:
            async for batch in batches:
                if batch:
                    yield batch.wire
                elif not subscribed:
                    # The first batch, empty: live from here on. Headers now let a
                    # client wait for that (it sees nothing committed before).
                    subscribed = True
                    await context.send_initial_metadata(())
        except _ERRORS as exc:
            await _abort(context, exc)
            raise

    async def ListCheckpoints(
        self, request: runner_pb2.ListCheckpointsRequest, context: Ctx
    ) -> runner_pb2.ListCheckpointsResponse:
        checkpoints, token = await _status(
            context,
            _tenant(self.runner).list_checkpoints(
                request.run_id, request.page_size, request.page_token
            ),
        )
        return runner_pb2.ListCheckpointsResponse(checkpoints=checkpoints, next_page_token=token)

    async def GetCheckpoint(
        self, request: runner_pb2.GetCheckpointRequest, context: Ctx
    ) -> runner_pb2.GetCheckpointResponse:
        checkpoint = await _status(
            context,
            _tenant(self.runner).get_checkpoint(request.checkpoint_id, request.include_content),
        )
        return runner_pb2.GetCheckpointResponse(checkpoint=checkpoint)

    async def DeleteCheckpoint(
        self, request: runner_pb2.DeleteCheckpointRequest, context: Ctx
    ) -> runner_pb2.DeleteCheckpointResponse:
        removed = await _status(
            context, _tenant(self.runner).delete_checkpoint(request.checkpoint_id)
        )
        return runner_pb2.DeleteCheckpointResponse(blobs_removed=removed)

    async def SendResponses(
        self, request: runner_pb2.SendResponsesRequest, context: Ctx
    ) -> runner_pb2.SendResponsesResponse:
        run = await _status(
            context, _tenant(self.runner).send_responses(request.run_id, request.responses)
        )
        return runner_pb2.SendResponsesResponse(run=run)

    async def ListPendingRequests(
        self, request: runner_pb2.ListPendingRequestsRequest, context: Ctx
    ) -> runner_pb2.ListPendingRequestsResponse:
        requests, token = await _status(
            context,
            _tenant(self.runner).pending_requests(
                request.run_id, request.page_size, request.page_token
            ),
        )
        return runner_pb2.ListPendingRequestsResponse(requests=requests, next_page_token=token)

    async def ResumeRun(
        self, request: runner_pb2.ResumeRunRequest, context: Ctx
    ) -> runner_pb2.ResumeRunResponse:
        run = await _status(
            context,
            _tenant(self.runner).resume(request.checkpoint_id, request.fork, request.new_run_id),
        )
        return runner_pb2.ResumeRunResponse(run=run)

    async def MoveRuns(
        self, request: runner_pb2.MoveRunsRequest, context: Ctx
    ) -> runner_pb2.MoveRunsResponse:
        moved = await _status(
            context,
            _tenant(self.runner).move_runs(
                request.workflow_id, request.to_version, request.run_ids, request.all_runs
            ),
        )
        return runner_pb2.MoveRunsResponse(moved_run_ids=moved.moved, skipped_run_ids=moved.skipped)

    # -- schedules

    async def CreateSchedule(
        self, request: runner_pb2.CreateScheduleRequest, context: Ctx
    ) -> runner_pb2.CreateScheduleResponse:
        schedule = await _status(context, _tenant(self.runner).create_schedule(request.schedule))
        return runner_pb2.CreateScheduleResponse(schedule=schedule)

    async def GetSchedule(
        self, request: runner_pb2.GetScheduleRequest, context: Ctx
    ) -> runner_pb2.GetScheduleResponse:
        schedule = await _status(context, _tenant(self.runner).get_schedule(request.schedule_id))
        return runner_pb2.GetScheduleResponse(schedule=schedule)

    async def ListSchedules(
        self, request: runner_pb2.ListSchedulesRequest, context: Ctx
    ) -> runner_pb2.ListSchedulesResponse:
        schedules, token = await _status(
            context,
            _tenant(self.runner).list_schedules(
                request.workflow_id, request.page_size, request.page_token
            ),
        )
        return runner_pb2.ListSchedulesResponse(schedules=schedules, next_page_token=token)

    async def PauseSchedule(
        self, request: runner_pb2.PauseScheduleRequest, context: Ctx
    ) -> runner_pb2.PauseScheduleResponse:
        schedule = await _status(context, _tenant(self.runner).pause_schedule(request.schedule_id))
        return runner_pb2.PauseScheduleResponse(schedule=schedule)

    async def ResumeSchedule(
        self, request: runner_pb2.ResumeScheduleRequest, context: Ctx
    ) -> runner_pb2.ResumeScheduleResponse:
        schedule = await _status(context, _tenant(self.runner).resume_schedule(request.schedule_id))
        return runner_pb2.ResumeScheduleResponse(schedule=schedule)

    async def DeleteSchedule(
        self, request: runner_pb2.DeleteScheduleRequest, context: Ctx
    ) -> runner_pb2.DeleteScheduleResponse:
        await _status(context, _tenant(self.runner).delete_schedule(request.schedule_id))
        return runner_pb2.DeleteScheduleResponse()


def _filters(
    request: runner_pb2.ListRunsRequest,
) -> tuple[list[int], Timestamp | None, Timestamp | None]:
    after = request.created_after if request.HasField("created_after") else None
    before = request.created_before if request.HasField("created_before") else None
    return list(request.statuses), after, before
