"""The schedule calls of `RunnerClient` (mixed into it): create, read, pause,
resume and delete schedules that start runs on a cron expression or an
interval."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any, Literal, TypedDict, Unpack

from stepline import payloads
from stepline._calls import ClientCalls
from stepline.v1 import runner_pb2

Schedule = runner_pb2.Schedule
Overlap = Literal["skip", "queue", "allow"]
CatchUp = Literal["none", "one"]

OVERLAPS: dict[str, runner_pb2.ScheduleOverlap] = {
    "skip": runner_pb2.SCHEDULE_OVERLAP_SKIP,
    "queue": runner_pb2.SCHEDULE_OVERLAP_QUEUE,
    "allow": runner_pb2.SCHEDULE_OVERLAP_ALLOW,
}
CATCH_UPS: dict[str, runner_pb2.ScheduleCatchUp] = {
    "none": runner_pb2.SCHEDULE_CATCH_UP_NONE,
    "one": runner_pb2.SCHEDULE_CATCH_UP_ONE,
}


class ScheduleOptions(TypedDict, total=False):
    """The options of a schedule after its ids and input, as `schedule_spec`
    takes them (and defaults them)."""

    cron: str
    interval: timedelta | None
    time_zone: str
    jitter: timedelta | None
    overlap: Overlap
    catch_up: CatchUp
    paused: bool


def schedule_spec(
    schedule_id: str,
    workflow_id: str,
    input: Any,
    *,
    cron: str = "",
    interval: timedelta | None = None,
    time_zone: str = "",
    jitter: timedelta | None = None,
    overlap: Overlap = "skip",
    catch_up: CatchUp = "none",
    paused: bool = False,
) -> runner_pb2.ScheduleSpec:
    """A `ScheduleSpec`: exactly one of `cron` and `interval`."""
    if bool(cron) == (interval is not None):
        raise ValueError("give exactly one of cron and interval")
    if overlap not in OVERLAPS:
        raise ValueError(f"overlap must be one of {', '.join(OVERLAPS)}, not {overlap!r}")
    if catch_up not in CATCH_UPS:
        raise ValueError(f"catch_up must be one of {', '.join(CATCH_UPS)}, not {catch_up!r}")
    spec = runner_pb2.ScheduleSpec(
        schedule_id=schedule_id,
        workflow_id=workflow_id,
        input=payloads.encode(input),
        time_zone=time_zone,
        overlap=OVERLAPS[overlap],
        catch_up=CATCH_UPS[catch_up],
        paused=paused,
    )
    if cron:
        spec.cron = cron
    if interval is not None:
        spec.interval.FromTimedelta(interval)
    if jitter is not None:
        spec.jitter.FromTimedelta(jitter)
    return spec


class ScheduleCalls(ClientCalls):
    """Schedule calls; `RunnerClient` provides the stub and the call seams."""

    async def create_schedule(
        self, schedule_id: str, workflow_id: str, input: Any, **options: Unpack[ScheduleOptions]
    ) -> Schedule:
        """Start runs of `workflow_id` with `input` at the times of a `cron`
        expression (five fields or @hourly..., read in `time_zone`, UTC by
        default) or every `interval` (whole seconds, aligned on the epoch).

        Each run starts up to `jitter` after its fire time. `overlap` says what
        a fire time does while the last run has not ended ("skip" it, "queue"
        it: at most one waits, or "allow" it); `catch_up` what the runner does
        with fire times it missed while stopped ("none", or "one": a run for
        the latest). The run of fire time T is `<schedule_id>-<YYYYMMDDTHHMMSSZ>`.
        The options are `ScheduleOptions`, by keyword; by default "skip",
        "none", no jitter, not paused.
        """
        spec = schedule_spec(schedule_id, workflow_id, input, **options)
        request = runner_pb2.CreateScheduleRequest(schedule=spec)
        return (await self._call(self._stub.CreateSchedule, request)).schedule

    async def get_schedule(self, schedule_id: str) -> Schedule:
        """The schedule and where it stands (`NotFoundError` if there is none)."""
        request = runner_pb2.GetScheduleRequest(schedule_id=schedule_id)
        return (await self._call(self._stub.GetSchedule, request)).schedule

    async def list_schedules(
        self, workflow_id: str = "", *, page_size: int = 100
    ) -> AsyncIterator[Schedule]:
        """Every schedule (of one workflow, if given), in creation order."""
        request = runner_pb2.ListSchedulesRequest(workflow_id=workflow_id, page_size=page_size)

        async def page(token: str) -> tuple[Sequence[Schedule], str]:
            request.page_token = token
            response = await self._call(self._stub.ListSchedules, request)
            return response.schedules, response.next_page_token

        async for schedule in self._pages(page):
            yield schedule

    async def pause_schedule(self, schedule_id: str) -> Schedule:
        """Start nothing until resumed."""
        request = runner_pb2.PauseScheduleRequest(schedule_id=schedule_id)
        return (await self._call(self._stub.PauseSchedule, request)).schedule

    async def resume_schedule(self, schedule_id: str) -> Schedule:
        """Go on from the next fire time after now."""
        request = runner_pb2.ResumeScheduleRequest(schedule_id=schedule_id)
        return (await self._call(self._stub.ResumeSchedule, request)).schedule

    async def delete_schedule(self, schedule_id: str) -> None:
        """Delete the schedule; the runs it started stay."""
        request = runner_pb2.DeleteScheduleRequest(schedule_id=schedule_id)
        await self._call(self._stub.DeleteSchedule, request)
