"""The run status vocabulary: which statuses mean "running", which end a run,
and what a run's status is once a superstep (or a resume) settles.

It sits below both the engine and the store (it imports only the contract's
messages): the store needs the terminal statuses to find unfinished runs and
must not import the engine, so neither may own it.
"""

from __future__ import annotations

from stepline.v1 import events_pb2

E = events_pb2

RUNNING = frozenset({E.RUN_STATUS_RUNNING, E.RUN_STATUS_RUNNING_WITH_PENDING_REQUESTS})
TERMINAL = frozenset({E.RUN_STATUS_COMPLETED, E.RUN_STATUS_FAILED, E.RUN_STATUS_CANCELLED})
# Accepted, waiting for a slot of its workflow's max_concurrent_runs: not
# running (nothing drives it) and not ended (a cancel ends it).
QUEUED = E.RUN_STATUS_QUEUED
# Nothing to do until a client answers or a timer is due: no driver holds the run.
WAITING = frozenset({E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS, E.RUN_STATUS_WAITING_FOR_TIMERS})
# Requests for input are open (work may go on meanwhile, or not).
WITH_OPEN_REQUESTS = frozenset(
    {E.RUN_STATUS_RUNNING_WITH_PENDING_REQUESTS, E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS}
)


def is_running(status: E.RunStatus) -> bool:
    """A status under which the run has work to do (it is driven, or should be)."""
    return status in RUNNING


def is_terminal(status: E.RunStatus) -> bool:
    """A status that ends a run: nothing drives it again but a fork."""
    return status in TERMINAL


def ends_run(event: events_pb2.Event) -> bool:
    """The event that ends a run: a change to a terminal status."""
    return event.kind == E.EVENT_KIND_STATUS_CHANGED and is_terminal(event.status)


def leaves_waiting_for_input(events: list[events_pb2.Event]) -> bool:
    """Whether a commit's events leave the run idle with requests for input
    open: nothing follows until a client answers. (Not waiting for timers: a
    run polling on short timers waits after every commit.)"""
    return any(
        e.kind == E.EVENT_KIND_STATUS_CHANGED
        and e.status == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS
        for e in events
    )


def settled(has_work: bool, has_pending_requests: bool, has_timers: bool = False) -> E.RunStatus:
    """The status of a run that is not failed or cancelled: running while
    messages or responses wait for delivery, waiting for input while
    requests are open, for timers while only timers remain, completed when
    none of these remains."""
    if has_work:
        return (
            E.RUN_STATUS_RUNNING_WITH_PENDING_REQUESTS
            if has_pending_requests
            else E.RUN_STATUS_RUNNING
        )
    if has_pending_requests:
        return E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS
    if has_timers:
        return E.RUN_STATUS_WAITING_FOR_TIMERS
    return E.RUN_STATUS_COMPLETED
