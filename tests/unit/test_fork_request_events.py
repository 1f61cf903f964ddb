"""A fork of a checkpoint with open requests logs their REQUEST_INFO events
once, in its own log, so a client watching the fork for requests sees them;
the source run's log is unchanged."""

from __future__ import annotations

from stepline import payloads
from stepline.executor import Executor, WorkflowContext, handler, response_handler
from stepline.v1 import events_pb2 as E
from tests.unit.asker import asking
from tests.unit.conftest import Harness, of_kind

WAITING = E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS


class Asker(Executor):
    @handler
    async def ask(self, n: int, ctx: WorkflowContext) -> None:
        await ctx.request_info(request_data=n, response_type=bool)
        await ctx.request_info(request_data=f"sure about {n}?", response_type=bool)

    @response_handler
    async def number(self, asked: int, ok: bool, ctx: WorkflowContext) -> None:
        await ctx.yield_output(f"{asked}: {ok}")

    @response_handler
    async def text(self, asked: str, ok: bool, ctx: WorkflowContext) -> None:
        await ctx.yield_output(f"{asked} {ok}")


async def until_waiting(harness: Harness, run_id: str) -> list[E.Event]:
    seen: list[E.Event] = []
    async for batch in harness.runner.watch(run_id):
        seen.extend(batch)
        if seen[-1].status == WAITING:
            return seen
    raise AssertionError(f"run {run_id} ended without waiting")


def asked(events: list[E.Event]) -> list[tuple[str, str]]:
    return [
        (e.request.request_id, e.request.data.type_name)
        for e in of_kind(events, E.EVENT_KIND_REQUEST_INFO)
    ]


async def test_a_fork_logs_the_requests_open_at_its_checkpoint_once(harness: Harness) -> None:
    harness.host("svc", {"asker": Asker})
    await harness.runner.register_workflow(asking())  # "a", type asker, at "svc"
    await harness.runner.start_run("ask", payloads.encode(7), "source")
    source_events = await until_waiting(harness, "source")
    source = await harness.get_run("source")

    fork = await harness.runner.resume(source.latest_checkpoint_id, fork=True, new_run_id="fork")
    fork_events = await until_waiting(harness, fork.run_id)

    opened = [("source:1:a:0", "integer"), ("source:1:a:1", "string")]
    assert asked(source_events) == opened
    assert asked(fork_events) == opened  # once each, though the fork asked nothing
    assert [e.kind for e in fork_events[:2]] == [E.EVENT_KIND_RUN_STARTED, E.EVENT_KIND_RUN_RESUMED]
    # The source's log unchanged: not one event more.
    assert (await harness.get_run("source")).last_sequence == source.last_sequence

    await harness.runner.send_responses(
        "fork", {"source:1:a:0": payloads.encode(True), "source:1:a:1": payloads.encode(False)}
    )
    ended = await harness.events("fork")
    assert asked(ended) == opened  # answering logs no request again
    assert sorted(payloads.json_value(e.data) for e in of_kind(ended, E.EVENT_KIND_OUTPUT)) == [
        "7: True",
        "sure about 7? False",
    ]
