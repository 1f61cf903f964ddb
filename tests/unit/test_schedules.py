"""Schedules in the engine: refusals of bad specs, runs started at fire times
with derived ids, overlap, catch-up, pause and resume, and a restart that
repeats a fire time without starting a second run. `tick(now)` stands for the
scheduler's clock, so no test waits for one."""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import CodeType, FunctionType, ModuleType
from typing import Any, ClassVar

import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message

from stepline import WorkflowBuilder, payloads
from stepline.executor import Executor, WorkflowContext, handler
from stepline.testing import InProcessRunner
from stepline.v1 import events_pb2 as E
from stepline.v1 import runner_pb2 as R
from stepline.v1 import workflow_pb2
from stepline_runner.engine.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Reason,
    ResourceExhausted,
)
from stepline_runner.engine.limits import Limits
from stepline_runner.engine.schedule_records import progress
from stepline_runner.engine.schedules import Schedules
from tests.support.stores import harness_on_both_stores

__all__ = ["harness_on_both_stores"]  # every test here runs on SQLite and PostgreSQL


class Held(Executor):
    """Yields its input once the test sets `release`."""

    release: ClassVar[asyncio.Event] = asyncio.Event()

    @handler
    async def hold(self, value: str, ctx: WorkflowContext) -> None:
        await Held.release.wait()
        await ctx.yield_output(value)


@pytest.fixture
async def env(harness: InProcessRunner) -> AsyncIterator[InProcessRunner]:
    Held.release = asyncio.Event()
    harness.host("svc", {"held": Held})
    await harness.runner.register_workflow(held_workflow())
    yield harness
    # Every run ends before the runner closes: none is left committing to a
    # closed database.
    await settle(harness)


def held_workflow() -> workflow_pb2.WorkflowDefinition:
    return (
        WorkflowBuilder("w").add_executor("h", "svc", type="held").set_start_executor("h").build()
    )


def every(seconds: int, schedule_id: str = "s", **fields: Any) -> R.ScheduleSpec:
    spec = R.ScheduleSpec(
        schedule_id=schedule_id, workflow_id="w", input=payloads.encode("tick"), **fields
    )
    spec.interval.seconds = seconds
    return spec


def cron(expression: str, **fields: Any) -> R.ScheduleSpec:
    return R.ScheduleSpec(
        schedule_id="c", workflow_id="w", cron=expression, input=payloads.encode("x"), **fields
    )


def seconds(value: float) -> Duration:
    duration = Duration()
    duration.FromNanoseconds(int(value * 1e9))
    return duration


async def run_ids(harness: InProcessRunner) -> list[str]:
    runs, _ = await harness.runner.list_runs("w", 0, "")
    return sorted(r.run_id for r in runs)


async def settle(harness: InProcessRunner) -> None:
    """Let every run end, its driver's last commit and clean-up included."""
    Held.release.set()
    for run_id in await run_ids(harness):
        await harness.events(run_id)
        driver = harness.runner.runs.task(run_id)
        if driver is not None:
            await driver


LONG = "x" * 5000


@pytest.mark.parametrize(
    ("spec", "field", "says"),
    [
        (cron("61 * * * *"), "cron", "is not a valid cron expression"),
        (cron("* * *"), "cron", "has 3 fields; expected 5"),
        (cron("* * * * * *"), "cron", "has 6 fields"),
        (cron("0 0 30 2 *"), "cron", "never fires"),
        (cron("R R * * *"), "cron", "random (R) and hashed (H) fields are not supported"),
        (cron("0 0 * * r/2"), "cron", "random (R)"),
        (cron("0 h(0-5) * * *"), "cron", "random (R)"),
        (cron("@reboot"), "cron", "has 1 fields"),
        (cron(LONG), "cron", "is longer than 256 characters"),
        (cron("0 * * * *", time_zone="Mars/Olympus"), "time_zone", "is not an IANA time zone"),
        (cron("0 * * * *", time_zone="../../etc/passwd"), "time_zone", "is not an IANA"),
        (cron("0 * * * *", time_zone=LONG), "time_zone", "is longer than 64"),
        (every(0), "interval", "must be 1 s to 31622400 s (366 days), not 0 s"),
        (every(-5), "interval", "not -5 s"),
        (every(400 * 86400), "interval", "not 34560000 s"),
        (every(10, jitter=seconds(-1)), "jitter", "must be a non-negative duration"),
        (every(86400, jitter=seconds(7200)), "jitter", "must be at most 3600 s, not 7200 s"),
        (every(10, jitter=seconds(10)), "jitter", "shorter than the schedule's period (10 s)"),
        (cron("*/5 * * * *", jitter=seconds(301)), "jitter", "period (300 s)"),
        (R.ScheduleSpec(schedule_id="s", workflow_id="w"), "trigger", "set cron"),
        (every(10, overlap=9), "overlap", "9 is not a ScheduleOverlap value"),
        (every(10, catch_up=7), "catch_up", "7 is not a ScheduleCatchUp value"),
    ],
)
async def test_bad_specs_are_refused_naming_the_field_in_a_bounded_message(
    env: InProcessRunner, spec: R.ScheduleSpec, field: str, says: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        await env.runner.schedules.create(spec)
    assert refused.value.reason == Reason.INVALID_SCHEDULE
    assert refused.value.context == {"field": field}
    assert str(refused.value).startswith(f"schedule {field}: ")
    assert says in str(refused.value)
    assert len(str(refused.value)) < 300
    assert await env.store.count_schedules() == 0


async def test_bad_ids_inputs_and_unknown_workflows_are_refused(env: InProcessRunner) -> None:
    schedules = env.runner.schedules
    with pytest.raises(InvalidArgument) as bad_id:
        await schedules.create(every(10, schedule_id="-no/" + LONG))
    no_type = every(10)
    no_type.input.type_name = ""
    with pytest.raises(InvalidArgument) as bad_input:
        await schedules.create(no_type)
    unknown = every(10)
    unknown.workflow_id = "nope"
    with pytest.raises(NotFound):
        await schedules.create(unknown)
    with pytest.raises(NotFound) as missing:
        await schedules.get("ghost")

    assert bad_id.value.reason == Reason.INVALID_ID and len(str(bad_id.value)) < 200
    assert bad_input.value.reason == Reason.INVALID_PAYLOAD
    assert missing.value.reason == Reason.SCHEDULE_NOT_FOUND


async def test_an_id_is_taken_once_and_the_count_is_capped(tmp_path: Path) -> None:
    async with await InProcessRunner.open(tmp_path / "db") as harness:
        harness.host("svc", {"held": Held})
        await harness.runner.register_workflow(
            WorkflowBuilder("w")
            .add_executor("h", "svc", type="held")
            .set_start_executor("h")
            .build()
        )
        schedules = Schedules(
            harness.store, harness.runner.workflows, harness.runner.start_run, Limits(schedules=2)
        )
        await schedules.create(every(10, "a"))
        with pytest.raises(AlreadyExists) as taken:
            await schedules.create(every(20, "a"))
        await schedules.create(every(10, "b"))
        with pytest.raises(ResourceExhausted) as full:
            await schedules.create(every(10, "c"))

        big = every(10, "big")
        big.input.data = b"1" * 2_000_000
        with pytest.raises(InvalidArgument) as too_big:
            await schedules.create(big)
        pages = [await schedules.list("", 1, "")]
        pages.append(await schedules.list("", 1, pages[0][1]))

        assert "at most 1048576" in str(too_big.value) and len(str(too_big.value)) < 200
        assert [[s.spec.schedule_id for s in page] for page, _ in pages] == [["a"], ["b"]]
        assert pages[1][1] == ""
        # The cap is each namespace's: team-b's first two are not the default's third.
        await schedules.create(every(10, "team-b/c"))
        await schedules.create(every(10, "team-b/d"))
        with pytest.raises(ResourceExhausted) as full_b:
            await schedules.create(every(10, "team-b/e"))
        assert taken.value.reason == Reason.SCHEDULE_EXISTS
        assert full.value.reason == full_b.value.reason == Reason.TOO_MANY_SCHEDULES
        assert str(full_b.value) == (
            "namespace 'team-b' holds 2 schedules, as many as the runner allows a namespace; "
            "delete some (or raise the runner's --limit schedules=N)"
        )
        assert full_b.value.context == {"namespace": "team-b", "limit": "2"}
        assert [s.spec.schedule_id for s in (await schedules.list("", 0, ""))[0]] == [
            "a",
            "b",
            "team-b/c",
            "team-b/d",
        ]
        assert await harness.store.count_schedules("team-b") == 2


async def test_a_schedule_starts_one_run_per_fire_time_with_a_derived_id(
    env: InProcessRunner,
) -> None:
    Held.release.set()
    schedules = env.runner.schedules
    created = await schedules.create(every(10))
    first = float(created.next_fire_time.seconds)

    await schedules.tick(first - 0.5)  # not yet
    assert await run_ids(env) == []
    await schedules.tick(first + 0.1)
    await schedules.tick(first + 0.2)  # the same fire time: nothing more
    await settle(env)
    await schedules.tick(first + 10.1)

    stamp = first
    expected = [f"s-{_utc(stamp)}", f"s-{_utc(stamp + 10)}"]
    assert await run_ids(env) == expected
    schedule = await schedules.get("s")
    assert (schedule.runs_started, schedule.last_run_id) == (2, expected[1])
    assert schedule.next_fire_time.seconds == first + 20
    run = await env.get_run(expected[0])
    assert run.status == E.RUN_STATUS_COMPLETED


async def test_a_fire_time_repeated_after_a_restart_starts_no_second_run(
    env: InProcessRunner,
) -> None:
    Held.release.set()
    created = await env.runner.schedules.create(every(10))
    fire = float(created.next_fire_time.seconds)
    await env.runner.schedules.tick(fire + 0.1)
    # The runner was killed after the start, before the schedule's progress
    # was stored: the new one finds the fire time still to do.
    await env.store.update_schedule(created)
    again = Schedules(env.store, env.runner.workflows, env.runner.start_run, Limits())
    await again.start()
    await again.tick(fire + 0.3)
    await again.close()

    assert await run_ids(env) == [f"s-{_utc(fire)}"]
    assert (await again.get("s")).next_fire_time.seconds == fire + 10


@pytest.mark.parametrize(
    ("overlap", "runs", "skipped"),
    [
        (R.SCHEDULE_OVERLAP_SKIP, 2, 1),  # the second fire time is skipped
        (R.SCHEDULE_OVERLAP_ALLOW, 3, 0),  # all three run
        (R.SCHEDULE_OVERLAP_QUEUE, 3, 0),  # the second waits for the first, then runs
    ],
)
async def test_overlap_policies(
    env: InProcessRunner, overlap: R.ScheduleOverlap, runs: int, skipped: int
) -> None:
    schedules = env.runner.schedules
    first = float((await schedules.create(every(10, overlap=overlap))).next_fire_time.seconds)
    await schedules.tick(first + 0.1)
    await schedules.tick(first + 10.1)  # the first run is still going
    waiting = (await schedules.get("s")).HasField("waiting_fire_time")
    await settle(env)
    await schedules.tick(first + 10.2)  # the first ended: a waiting fire time starts
    await settle(env)
    await schedules.tick(first + 20.1)
    await settle(env)

    schedule = await schedules.get("s")
    assert waiting == (overlap == R.SCHEDULE_OVERLAP_QUEUE)
    assert (len(await run_ids(env)), schedule.fires_skipped) == (runs, skipped)
    if skipped:
        assert "overlap policy SKIP" in schedule.last_skip_reason


@pytest.mark.parametrize(
    ("catch_up", "started"), [(R.SCHEDULE_CATCH_UP_NONE, False), (R.SCHEDULE_CATCH_UP_ONE, True)]
)
async def test_after_downtime_catch_up_runs_at_most_the_latest_missed_fire_time(
    env: InProcessRunner, catch_up: R.ScheduleCatchUp, started: bool
) -> None:
    Held.release.set()
    schedules = env.runner.schedules
    first = float((await schedules.create(every(10, catch_up=catch_up))).next_fire_time.seconds)
    await schedules.tick(first + 57)  # five fire times passed; the last, 7 s ago, is missed

    expected = [f"s-{_utc(first + 50)}"] if started else []
    assert await run_ids(env) == expected
    schedule = await schedules.get("s")
    assert schedule.next_fire_time.seconds == first + 60
    assert schedule.fires_skipped == (0 if started else 1)


async def test_a_paused_schedule_starts_nothing_and_resumes_after_now(
    env: InProcessRunner,
) -> None:
    Held.release.set()
    schedules = env.runner.schedules
    first = float((await schedules.create(every(10, paused=True))).next_fire_time.seconds)
    await schedules.tick(first + 0.1)
    paused = await schedules.pause("s")  # pausing a paused one changes nothing
    resumed = await schedules.resume("s")
    await schedules.pause("s")
    await schedules.tick(resumed.next_fire_time.seconds + 0.1)

    assert paused.paused and not resumed.paused
    assert resumed.next_fire_time.seconds >= first
    assert await run_ids(env) == []
    await schedules.delete("s")
    with pytest.raises(NotFound):
        await schedules.delete("s")
    assert await env.store.count_schedules() == 0


def _utc(t: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))


async def test_a_start_that_fails_for_now_is_retried_and_one_refused_is_skipped(
    env: InProcessRunner,
) -> None:
    Held.release.set()
    calls: list[str] = []

    async def start(workflow_id: str, payload: Any, run_id: str, actor: str = "") -> R.Run:
        calls.append(run_id)
        if len(calls) == 1:
            raise FailedPrecondition("executors away", reason=Reason.EXECUTOR_SERVICE_UNREACHABLE)
        if len(calls) == 3:
            raise InvalidArgument("input type", reason=Reason.INPUT_TYPE_MISMATCH)
        return await env.runner.start_run(workflow_id, payload, run_id)

    schedules = Schedules(env.store, env.runner.workflows, start, Limits())
    await schedules.start()
    first = float((await schedules.create(every(10))).next_fire_time.seconds)
    await schedules.close()  # from here on, the test's clock only

    wake = await schedules.tick(first + 0.1)
    assert wake == pytest.approx(first + 2.1)  # tried again in 2 s, not at once
    await schedules.tick(first + 1.0)
    assert len(calls) == 1
    await schedules.tick(first + 2.2)  # still on time: the same fire time starts
    await settle(env)
    await schedules.tick(first + 10.1)  # refused for good: skipped, not retried
    await schedules.tick(first + 12.5)

    schedule = await schedules.get("s")
    assert calls == [f"s-{_utc(first)}"] * 2 + [f"s-{_utc(first + 10)}"]
    assert await run_ids(env) == [f"s-{_utc(first)}"]
    assert (schedule.runs_started, schedule.fires_skipped) == (1, 1)
    assert "was refused: input type" in schedule.last_skip_reason
    assert schedule.next_fire_time.seconds == first + 20


async def test_schedule_calls_do_not_wait_for_a_start_under_way(env: InProcessRunner) -> None:
    """A start waits (its executors are away, say): pausing that schedule and
    creating another answer at once; the pause keeps its effect and the fire
    still records its run."""
    Held.release.set()
    starting, go_on = asyncio.Event(), asyncio.Event()

    async def start(workflow_id: str, payload: Any, run_id: str, actor: str = "") -> R.Run:
        starting.set()
        await go_on.wait()
        return await env.runner.start_run(workflow_id, payload, run_id)

    schedules = Schedules(env.store, env.runner.workflows, start, Limits())
    first = float((await schedules.create(every(10))).next_fire_time.seconds)
    tick = asyncio.create_task(schedules.tick(first + 0.1))
    await starting.wait()

    async with asyncio.timeout(10):  # before the fix: for ever (the start never ends)
        paused = await schedules.pause("s")
        other = await schedules.create(every(10, schedule_id="t"))
    assert paused.paused and other.spec.schedule_id == "t"
    go_on.set()
    await tick

    schedule = await schedules.get("s")
    assert schedule.paused  # the pause stands...
    assert (schedule.runs_started, schedule.last_run_id) == (
        1,
        f"s-{_utc(first)}",
    )  # ...and the run
    assert schedule.next_fire_time.seconds == paused.next_fire_time.seconds
    await schedules.tick(first + 10.1)  # paused: nothing more (t fires)
    assert [r for r in await run_ids(env) if r.startswith("s-")] == [f"s-{_utc(first)}"]


def held_by(scheduler: Schedules, *parts: object) -> list[object]:
    """Every object the scheduler holds, as the collector sees references
    (gc.get_referents): through anything, its own objects' attributes and
    closures included, but not into `parts` (what it was given to call),
    nor into classes, modules, functions' code or the event loop."""
    skip = {id(p) for p in parts}
    seen: dict[int, object] = {}
    stack: list[object] = [scheduler]
    while stack:
        item = stack.pop()
        if id(item) in seen or id(item) in skip:
            continue
        seen[id(item)] = item
        if isinstance(item, type | ModuleType | CodeType | asyncio.AbstractEventLoop):
            continue
        if isinstance(item, FunctionType):  # what it closes over, not its module's globals
            stack += [*(item.__closure__ or ()), *(item.__defaults__ or ())]
            stack += (item.__kwdefaults__ or {}).values()
            continue
        stack += gc.get_referents(item)
        if isinstance(item, dict):
            stack += item.keys()  # text keys are left out of the collector's traversal
    del seen[id(scheduler)]
    return list(seen.values())


async def test_the_scheduler_holds_no_schedule_inputs_in_memory(env: InProcessRunner) -> None:
    """Ten schedules with 1 MiB inputs each: after start-up the scheduler holds
    only when each is due; it reads a schedule when it fires."""
    Held.release.set()
    big = payloads.encode("x" * (1024 * 1024 - 1024))
    # Created at one moment: a 10 s boundary passed between two creations
    # would put the last first fire times 10 s later than the first ones.
    now = time.time()
    creating = Schedules(
        env.store, env.runner.workflows, env.runner.start_run, Limits(), clock=lambda: now
    )
    for n in range(10):
        spec = every(10, schedule_id=f"s{n}")
        spec.input.CopyFrom(big)
        await creating.create(spec)

    start, limits = env.runner.start_run, Limits()
    schedules = Schedules(env.store, env.runner.workflows, start, limits)
    await schedules.start()
    await schedules.close()

    kept = held_by(schedules, env.store, env.runner.workflows, start, limits)
    assert not [x for x in kept if isinstance(x, Message)], "the scheduler keeps messages"
    texts = [x for x in kept if isinstance(x, str | bytes | bytearray | memoryview)]
    assert max(len(x) for x in texts) < 64  # ids, never inputs
    assert sum(sys.getsizeof(x) for x in kept) < 64 * 1024  # nothing input-sized in any form
    assert {f"s{n}" for n in range(10)} <= {x for x in kept if isinstance(x, str)}  # each due
    first = float((await schedules.get("s0")).next_fire_time.seconds)
    await schedules.tick(first + 0.1)  # each read from the store as it fires
    await settle(env)
    assert len(await run_ids(env)) == 10


async def test_a_schedule_deleted_and_created_again_during_a_start_is_left_new(
    env: InProcessRunner,
) -> None:
    """The fire of the old schedule records nothing on the new one of the
    same id (its run stays, as when the schedule is only deleted)."""
    Held.release.set()
    starting, go_on = asyncio.Event(), asyncio.Event()

    async def start(workflow_id: str, payload: Any, run_id: str, actor: str = "") -> R.Run:
        starting.set()
        await go_on.wait()
        return await env.runner.start_run(workflow_id, payload, run_id)

    schedules = Schedules(env.store, env.runner.workflows, start, Limits())
    first = float((await schedules.create(every(10))).next_fire_time.seconds)
    tick = asyncio.create_task(schedules.tick(first + 0.1))
    await starting.wait()
    await schedules.delete("s")
    new = await schedules.create(every(20))
    go_on.set()
    await tick

    schedule = await schedules.get("s")
    assert schedule == new  # before the fix: the old one's run and count on it
    assert f"s-{_utc(first)}" in await run_ids(env)  # the old one's run stays


async def test_a_scheduled_run_names_its_schedule_s_principal_and_has_its_rights(
    env: InProcessRunner,
) -> None:
    """The run of a fire time starts on behalf of whoever created the schedule
    or last paused or resumed it; one that may no longer start runs in the
    namespace has the fire time skipped, saying why."""
    Held.release.set()
    schedules = env.runner.schedules
    schedules.may_start = lambda name, namespace: (
        "" if (name, namespace) == ("alice", "default") else f"{name} is reader in {namespace}"
    )
    first = float((await schedules.create(every(10), actor="alice")).next_fire_time.seconds)
    await schedules.tick(first + 0.1)
    await settle(env)
    await schedules.pause("s", actor="bob")
    resumed = await schedules.resume("s", actor="bob")
    await schedules.tick(float(resumed.next_fire_time.seconds) + 0.1)

    schedule = await schedules.get("s")
    assert await run_ids(env) == [f"s-{_utc(first)}"]
    (started,) = [
        e for e in await env.events(f"s-{_utc(first)}") if e.kind == E.EVENT_KIND_RUN_STARTED
    ]
    assert started.principal == "alice"
    assert (schedule.principal, schedule.runs_started, schedule.fires_skipped) == ("bob", 1, 1)
    assert schedule.last_skip_reason.endswith("was refused: bob is reader in default")


def test_a_fire_s_record_keeps_the_principal_of_a_pause_and_resume_meanwhile() -> None:
    """Bob paused and resumed the schedule while alice's fire started its run,
    landing on the same next fire time: the record is bob's, with the fire's
    progress."""
    read = R.Schedule(spec=every(10), principal="alice")
    read.next_fire_time.FromSeconds(100)
    fired = R.Schedule()
    fired.CopyFrom(read)
    fired.runs_started, fired.last_run_id = 1, "s-1"
    fired.next_fire_time.FromSeconds(110)
    current = R.Schedule()
    current.CopyFrom(read)
    current.principal = "bob"

    recorded = progress(read, fired, current)
    assert (recorded.principal, recorded.runs_started, recorded.last_run_id) == ("bob", 1, "s-1")
    assert recorded.next_fire_time.seconds == 100  # as the resume set it
    assert progress(read, fired, read) == fired
