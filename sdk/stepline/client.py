"""`RunnerClient`: the async Python client of a Stepline runner."""

from __future__ import annotations

import asyncio
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from datetime import datetime
from types import TracebackType
from typing import Any, Self, cast

import grpc

from stepline import payloads
from stepline._calls import Page, Req, Resp, T, timestamp
from stepline._channel import Dialled, open_channel
from stepline._checkpoints import CheckpointCalls
from stepline._outcome import read_outcome, settled
from stepline._schedules import ScheduleCalls
from stepline._streams import LiveEvents, run_events
from stepline.errors import UnavailableError
from stepline.results import RunResult
from stepline.v1 import events_pb2, payload_pb2, runner_pb2, runner_pb2_grpc, workflow_pb2

Event = events_pb2.Event
Run = runner_pb2.Run
Checkpoint = runner_pb2.Checkpoint
WorkflowSummary = runner_pb2.WorkflowSummary
Registration = runner_pb2.RegisterWorkflowResponse
Moves = runner_pb2.MoveRunsResponse
InputRequest = payload_pb2.InputRequest
Schedule = runner_pb2.Schedule
EventKind = events_pb2.EventKind
RunStatus = events_pb2.RunStatus


class RunnerClient(ScheduleCalls, CheckpointCalls):
    """Talk to a runner at `address` ("host:port")::

    async with RunnerClient("127.0.0.1:7070") as client:
        await client.register_workflow(definition)
        result = await client.run("orders", Order(id=1))
    """

    def __init__(
        self,
        address: str,
        *,
        root_certificates: bytes | None = None,
        token: str | None = None,
        namespace: str = "",
        certificate_chain: bytes | None = None,
        private_key: bytes | None = None,
    ) -> None:
        """Connect to `address`; with `root_certificates` (PEM) over TLS,
        presenting the client certificate `certificate_chain` (PEM, with its
        `private_key`) when given, and with `token` sending it as a bearer token
        on every call. Every call is about `namespace`'s workflows and runs
        ("" is the runner's "default").

        The client has connections of its own, none shared with other clients:
        made after the runner came up, its first call reaches it, whatever
        earlier clients in the process found at that address."""
        self.address = address
        self.namespace = namespace
        self._channel = open_channel(address, root_certificates, certificate_chain, private_key)
        tls = root_certificates is not None or certificate_chain is not None
        self._dialled = Dialled(address, tls, client_certificate=certificate_chain is not None)
        self._stub = runner_pb2_grpc.RunnerServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the channel to the runner; calls in flight are cancelled."""
        await self._channel.close(None)

    async def wait_for_ready(self, timeout: float = 30.0) -> None:
        """Wait until the runner accepts connections (after it starts or restarts).

        Calls fail fast with `UnavailableError` while it cannot be reached,
        and for up to a second after it is back (the client tries to connect
        again at most a second apart); this waits instead, up to `timeout` seconds.
        """
        try:
            async with asyncio.timeout(timeout):
                await self._channel.channel_ready()
        except TimeoutError:
            message = f"runner at {self.address} not reachable after {timeout}s"
            raise UnavailableError(message) from None

    async def _call(
        self, method: grpc.aio.UnaryUnaryMultiCallable[Req, Resp], request: Req
    ) -> Resp:
        """The one place unary calls go through: namespace and metadata on,
        errors mapped."""
        try:
            return await method(self._in_namespace(request), metadata=self._metadata)
        except grpc.aio.AioRpcError as exc:
            raise self._dialled.error(exc) from exc

    def _in_namespace(self, request: Req) -> Req:
        """`request` about the client's namespace (every runner request has one)."""
        if self.namespace:
            cast(Any, request).namespace = self.namespace
        return request

    async def _pages(self, page: Callable[[str], Awaitable[Page[T]]]) -> AsyncIterator[T]:
        """Every item of a paginated list: `page(token)` fetches one page."""
        token = ""
        while True:
            items, token = await page(token)
            for item in items:
                yield item
            if not token:
                return

    async def register_workflow(self, definition: workflow_pb2.WorkflowDefinition) -> Registration:
        """Register a new version of a workflow (new runs use it; runs already
        started keep theirs); returns its id, graph signature and version."""
        return await self._call(
            self._stub.RegisterWorkflow, runner_pb2.RegisterWorkflowRequest(workflow=definition)
        )

    async def get_workflow(
        self, workflow_id: str, *, version: int = 0
    ) -> tuple[workflow_pb2.WorkflowDefinition, str]:
        """A version of a registered workflow (0: the latest): its definition
        and graph signature."""
        response = await self._call(
            self._stub.GetWorkflow,
            runner_pb2.GetWorkflowRequest(workflow_id=workflow_id, version=version),
        )
        return response.workflow, response.graph_signature

    async def move_runs(
        self,
        workflow_id: str,
        to_version: int,
        run_ids: Sequence[str] = (),
        *,
        all_runs: bool = False,
    ) -> Moves:
        """Pin runs (named, or `all_runs` that can move) to another version of
        their workflow with the same graph, e.g. its services on new addresses.
        Each moved run logs a RUN_MOVED event; the response lists moved and
        skipped runs."""
        return await self._call(
            self._stub.MoveRuns,
            runner_pb2.MoveRunsRequest(
                workflow_id=workflow_id,
                to_version=to_version,
                run_ids=list(run_ids),
                all_runs=all_runs,
            ),
        )

    async def list_workflows(self, *, page_size: int = 100) -> AsyncIterator[WorkflowSummary]:
        """Every registered workflow (without its definition), oldest registration first."""

        async def page(token: str) -> Page[WorkflowSummary]:
            request = runner_pb2.ListWorkflowsRequest(page_size=page_size, page_token=token)
            response = await self._call(self._stub.ListWorkflows, request)
            return response.workflows, response.next_page_token

        async for summary in self._pages(page):
            yield summary

    async def start_run(
        self,
        workflow_id: str,
        input: Any,
        *,
        run_id: str = "",
        checkpoint_policy: workflow_pb2.CheckpointPolicy | None = None,
    ) -> Run:
        """Start a run with `input` (any value `stepline.payloads.encode` takes).

        With `run_id`, a retried start returns the run the first call started.
        `checkpoint_policy` overrides the workflow's for this run.
        """
        request = runner_pb2.StartRunRequest(
            workflow_id=workflow_id,
            input=payloads.encode(input),
            run_id=run_id,
            checkpoint_policy=checkpoint_policy,
        )
        response = await self._call(self._stub.StartRun, request)
        return response.run

    async def get_run(self, run_id: str) -> Run:
        """The run as the runner has it now (`NotFoundError` if there is none)."""
        response = await self._call(self._stub.GetRun, runner_pb2.GetRunRequest(run_id=run_id))
        return response.run

    async def list_runs(
        self,
        workflow_id: str = "",
        *,
        page_size: int = 100,
        statuses: Iterable[events_pb2.RunStatus] = (),
        created_after: datetime | None = None,
        created_before: datetime | None = None,
    ) -> AsyncIterator[Run]:
        """Every run (of one workflow, if given), newest first, page by page;
        only those in one of `statuses`, and started in [created_after,
        created_before), where given (naive datetimes are taken as UTC)."""
        request = runner_pb2.ListRunsRequest(
            workflow_id=workflow_id,
            page_size=page_size,
            statuses=list(statuses),
            created_after=timestamp(created_after),
            created_before=timestamp(created_before),
        )

        async def page(token: str) -> Page[Run]:
            request.page_token = token
            response = await self._call(self._stub.ListRuns, request)
            return response.runs, response.next_page_token

        async for run in self._pages(page):
            yield run

    async def delete_run(self, run_id: str) -> runner_pb2.DeleteRunResponse:
        """Delete a run that ended, with its events, checkpoints and the state
        blobs no other run uses; returns how many of each went."""
        return await self._call(self._stub.DeleteRun, runner_pb2.DeleteRunRequest(run_id=run_id))

    async def cancel_run(self, run_id: str) -> Run:
        """Cancel the run (a queued one too) and return it, status CANCELLED."""
        response = await self._call(
            self._stub.CancelRun, runner_pb2.CancelRunRequest(run_id=run_id)
        )
        return response.run

    def watch(
        self,
        run_id: str,
        *,
        after: int = 0,
        kinds: Iterable[events_pb2.EventKind] = (),
        follow_after_end: bool = False,
        reconnect_timeout: float = 60.0,
    ) -> AsyncIterator[Event]:
        """The run's events after sequence `after`, stored then live, until the
        run ends (or for ever with `follow_after_end`).

        If the runner becomes unreachable (a restart), the watch reconnects by
        itself for up to `reconnect_timeout` seconds and goes on after the last
        event it delivered: nothing is missed and nothing comes twice.
        """
        request = runner_pb2.WatchRunRequest(
            run_id=run_id,
            after_sequence=after,
            kinds=kinds,
            follow_after_end=follow_after_end,
            namespace=self.namespace,
        )
        # The stream's own generator, not one wrapping it: one step less per
        # event. A caller that stops early closes it, which cancels the stream.
        return run_events(
            self._channel,
            self._stub,
            self._metadata,
            request,
            reconnect_timeout,
            self._dialled.error,
        )

    def watch_all(
        self, *, workflow_id: str = "", kinds: Iterable[events_pb2.EventKind] = ()
    ) -> LiveEvents:
        """Live events of every run (or of one workflow's runs), for dashboards::

            async with client.watch_all() as events:
                await events.subscribed()  # live from here on
                async for event in events:
                    ...

        Live only: nothing committed before the runner subscribed the stream,
        which starts when it is first used (iterated, `subscribed()`, `async
        with`), not by this call; `await events.subscribed()` returns once the
        runner has it. Leaving `async with` (or `aclose()`, or a `break` out of
        `async for client.watch_all()`) ends it. Raises `SteplineError` with
        RESOURCE_EXHAUSTED if the caller reads so slowly that the runner's
        buffer for it overflows.
        """
        request = runner_pb2.WatchRunsRequest(
            workflow_id=workflow_id, kinds=kinds, namespace=self.namespace
        )
        return LiveEvents(self._stub, self._metadata, request, self._dialled.error)

    async def wait(
        self,
        run_id: str,
        *,
        output_type: Any = None,
        after: int = 0,
        timeout: float | None = None,
        request_types: Iterable[Any] = (),
    ) -> RunResult:
        """Wait until the run completes, fails, is cancelled or waits for input.

        Returns its outputs (those after sequence `after`, decoded as
        `output_type` when given) and, if it waits, its open requests (their
        data decoded when its type is among `request_types`); `result.status`
        says which. Raises `RunFailedError` if it failed or was cancelled, and
        `TimeoutError` if none of this happened within `timeout` seconds.
        After a resume of a failed or cancelled run, pass the sequence of its
        end as `after`.
        """
        try:
            async with asyncio.timeout(timeout):
                result = await read_outcome(self, run_id, output_type, after)
        except TimeoutError:
            status = RunStatus.Name((await self.get_run(run_id)).status)
            raise TimeoutError(
                f"run {run_id} neither ended nor waited for input within {timeout:g} s; "
                f"it is {status}"
            ) from None
        return await settled(self, result, request_types)

    async def run(
        self,
        workflow_id: str,
        input: Any,
        *,
        run_id: str = "",
        output_type: Any = None,
        timeout: float | None = None,
        request_types: Iterable[Any] = (),
    ) -> RunResult:
        """Start a run and wait (see `wait`) until it completes, fails, is
        cancelled or waits for input, at most `timeout` seconds."""
        run = await self.start_run(workflow_id, input, run_id=run_id)
        return await self.wait(
            run.run_id, output_type=output_type, timeout=timeout, request_types=request_types
        )

    async def send_responses(self, run_id: str, responses: Mapping[str, Any]) -> Run:
        """Answer a waiting run's requests for input: request id -> response value.

        Some may be answered now and others later; the run goes on with these.
        """
        request = runner_pb2.SendResponsesRequest(
            run_id=run_id,
            responses={rid: payloads.encode(value) for rid, value in responses.items()},
        )
        response = await self._call(self._stub.SendResponses, request)
        return response.run

    async def list_pending_requests(
        self, run_id: str, *, page_size: int = 100, limit: int | None = None
    ) -> list[InputRequest]:
        """The run's open requests for input, oldest first (at most `limit`),
        fetched `page_size` at a time, each once (a page may repeat one when
        requests are answered between pages)."""

        async def page(token: str) -> Page[InputRequest]:
            request = runner_pb2.ListPendingRequestsRequest(
                run_id=run_id, page_size=page_size, page_token=token
            )
            response = await self._call(self._stub.ListPendingRequests, request)
            return response.requests, response.next_page_token

        found: list[InputRequest] = []
        if limit is not None and limit <= 0:
            return found
        seen: set[str] = set()
        async for request in self._pages(page):
            if request.request_id in seen:
                continue
            seen.add(request.request_id)
            found.append(request)
            if len(found) == limit:
                break
        return found
