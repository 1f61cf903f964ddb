"""Epochs and fencing: a runner that another one superseded changes neither
the stored run nor its executors' state, and lets go of the run."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
from typing import Any

import grpc
import pytest

from stepline import fencing, payloads
from stepline.fencing import EpochFence, ForgottenRun, StaleEpoch
from stepline.host import ExecutorHost
from stepline.serve import session_reply
from stepline.testing import InProcessRunner, outputs
from stepline.v1 import events_pb2 as E
from stepline.v1 import executor_pb2
from stepline_runner import errors
from stepline_runner.store import RunUpdate
from tests.support.processes import NODE_SERVICE, require_node
from tests.support.stores import harness_on_both_stores
from tests.unit.gated import Stepper, released, stepping

__all__ = ["harness_on_both_stores"]  # every test here runs on SQLite and PostgreSQL


def test_the_fence_rises_with_the_epochs_it_admits() -> None:
    fence = EpochFence()
    fence.admit("r", 2)
    fence.admit("r", 2)  # the same owner again
    fence.admit("r", 5)
    with pytest.raises(StaleEpoch) as stale:
        fence.admit("r", 4)
    assert (stale.value.epoch, stale.value.seen) == (4, 5)
    assert stale.value.metadata == {"run_id": "r", "epoch": "4", "seen_epoch": "5"}
    fence.admit("other", 1)  # runs are fenced one by one


def test_epoch_zero_passes_and_leaves_the_fence_alone() -> None:
    fence = EpochFence()
    fence.admit("r", 0)
    assert fence.seen("r") == 0
    fence.admit("r", 3)
    fence.admit("r", 0)  # a caller that does not fence: served
    assert fence.seen("r") == 3


def test_the_fence_outlives_end_run_for_the_last_ended_runs() -> None:
    fence = EpochFence(ended_runs=2)
    fence.admit("a", 3)
    assert not fence.end("a", 2)  # a superseded runner's EndRun
    assert fence.end("a", 3)
    with pytest.raises(StaleEpoch):
        fence.admit("a", 2)
    fence.admit("b", 1)
    fence.end("b", 1)
    fence.admit("c", 1)
    fence.end("c", 1)
    assert fence.seen("a") == 0  # the oldest ended run is forgotten
    fence.admit("b", 4)  # taken up again: live once more
    assert fence.seen("b") == 4


def test_a_run_forgotten_for_want_of_room_is_refused_up_to_its_epoch() -> None:
    forgotten: list[str] = []
    fence = EpochFence(live_runs=2, on_forget=forgotten.append)
    fence.admit("a", 3)
    fence.admit("b", 1)
    fence.admit("a", 3)  # called again: "b" is now the one called least recently
    fence.admit("c", 1)
    assert forgotten == ["b"]
    with pytest.raises(ForgottenRun) as refused:
        fence.admit("b", 1)  # its own runner: it would get fresh objects
    assert (refused.value.epoch, refused.value.seen) == (1, 1)
    assert "forgot the run at epoch 1" in str(refused.value)
    assert refused.value.reason == "STALE_EPOCH"
    assert not fence.end("b", 1)  # nothing left to release
    fence.admit("b", 2)  # a resume: a new epoch, whose restore comes first
    assert fence.seen("b") == 2 and forgotten == ["b", "a"]
    for epoch in (2, 3):
        with pytest.raises(ForgottenRun):
            fence.admit("a", epoch)
    fence.admit("a", 4)
    assert forgotten == ["b", "a", "c"]


class Tally(Stepper):
    pass


async def test_a_host_releases_the_objects_of_a_run_it_forgets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fencing, "LIVE_RUNS", 1)
    host = ExecutorHost({"tally": Tally})
    state = payloads.encode({"count": 7}, "tally.state")
    await host.restore(executor_pb2.RestoreCheckpointRequest(**key(2), state=state))
    execute = executor_pb2.ExecuteRequest(**{**key(1), "run_id": "other"}, superstep=1)
    execute.messages.add(payload=payloads.encode(1))
    await host.execute(execute)  # a second run: over the cap, "r" is forgotten

    assert host.object_count == 1
    with pytest.raises(ForgottenRun):
        await host.save(executor_pb2.SaveCheckpointRequest(**key(2)))
    await host.restore(executor_pb2.RestoreCheckpointRequest(**key(3), state=state))
    saved = await host.save(executor_pb2.SaveCheckpointRequest(**key(3)))
    assert payloads.json_value(saved.state) == {"count": 7}


def key(epoch: int) -> dict[str, Any]:
    return {"run_id": "r", "executor_id": "t", "executor_type": "tally", "epoch": epoch}


async def test_a_host_refuses_stale_calls_and_keeps_the_state() -> None:
    host = ExecutorHost({"tally": Tally})
    state = payloads.encode({"count": 7}, "tally.state")
    await host.restore(executor_pb2.RestoreCheckpointRequest(**key(2), state=state))
    stale = payloads.encode({"count": 0}, "tally.state")

    with pytest.raises(StaleEpoch):
        await host.restore(executor_pb2.RestoreCheckpointRequest(**key(1), state=stale))
    execute = executor_pb2.ExecuteRequest(**key(1), superstep=1)
    execute.messages.add(payload=payloads.encode(1))
    with pytest.raises(StaleEpoch):
        await host.execute(execute)
    with pytest.raises(StaleEpoch):
        await host.save(executor_pb2.SaveCheckpointRequest(**key(1)))
    assert host.end_run(executor_pb2.EndRunRequest(run_id="r", epoch=1)).released == 0

    saved = await host.save(executor_pb2.SaveCheckpointRequest(**key(2)))
    assert payloads.json_value(saved.state) == {"count": 7}
    assert host.end_run(executor_pb2.EndRunRequest(run_id="r", epoch=2)).released == 1


async def test_a_stale_call_on_a_session_stream_is_refused_and_logged_as_a_unary_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The log line operators (and the lease chaos test) count refusals by."""
    host = ExecutorHost({"tally": Tally})
    state = payloads.encode({"count": 7}, "tally.state")
    await host.restore(executor_pb2.RestoreCheckpointRequest(**key(2), state=state))
    execute = executor_pb2.ExecuteRequest(**key(1), superstep=1)
    execute.messages.add(payload=payloads.encode(1))

    with caplog.at_level(logging.WARNING, logger="stepline.serve"):
        reply = await session_reply(host, executor_pb2.SessionRequest(call_id=4, execute=execute))

    assert (reply.call_id, reply.reason) == (4, "STALE_EPOCH")
    assert reply.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["refused a stale call"]


async def test_a_commit_with_a_stale_epoch_writes_nothing(harness: InProcessRunner) -> None:
    store = harness.store
    _, run = await stepping(harness)
    assert run.epoch == 1  # its creator's
    assert await store.claim_run(run.run_id) == 2  # another runner took it over
    before = await store.get_run(run.run_id)
    assert before is not None

    with pytest.raises(errors.StaleEpoch):
        await store.commit(
            run.run_id,
            RunUpdate(E.RUN_STATUS_FAILED, 9, epoch=1),
            [E.Event(kind=E.EVENT_KIND_WARNING)],
        )
    after = await released(harness, run.run_id)  # the driver let go of the run, without an error
    # Neither the refused commit nor superstep 3's reached the store.
    assert (after.status, after.last_sequence, after.latest_checkpoint_id) == (
        E.RUN_STATUS_RUNNING,
        before.last_sequence,
        before.latest_checkpoint_id,
    )
    assert after.epoch == 2
    # Not ended either: the objects belong to the new owner now.
    assert ("svc", "EndRun") not in harness.executors.calls


async def test_an_executor_refusal_without_a_takeover_fails_the_run(
    harness: InProcessRunner,
) -> None:
    host, run = await stepping(harness)
    host.fence.admit(run.run_id, 7)  # the service claims an epoch no runner gave

    after = await released(harness, run.run_id)
    # Not left running with nobody driving it: failed, resumable, saying why.
    assert (after.status, after.epoch) == (E.RUN_STATUS_FAILED, 1)
    assert "has seen a later epoch" in after.error.message
    refused = [m for _, m in harness.executors.calls if m in ("Execute", "SaveCheckpoint")]
    assert refused[-2:] == ["Execute", "SaveCheckpoint"]


async def test_an_executor_refusal_after_a_takeover_makes_the_runner_let_go(
    harness: InProcessRunner,
) -> None:
    host, run = await stepping(harness)
    before = await harness.store.get_run(run.run_id)
    assert before is not None
    taken = await harness.store.claim_run(run.run_id)  # another runner took it over
    host.fence.admit(run.run_id, taken)

    after = await released(harness, run.run_id)
    assert (after.status, after.last_sequence) == (E.RUN_STATUS_RUNNING, before.last_sequence)


async def test_a_run_its_service_forgot_fails_resumably_and_a_resume_restores_it(
    harness: InProcessRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fencing, "LIVE_RUNS", 1)
    host, run = await stepping(harness)
    host.fence.admit("another-run", 1)  # over the cap: the run is forgotten, its object released
    assert host.object_count == 0

    failed = await released(harness, run.run_id)
    assert (failed.status, failed.epoch) == (E.RUN_STATUS_FAILED, 1)
    assert "this service forgot the run at epoch 1" in failed.error.message
    assert "resume the run from its last checkpoint" in failed.error.message
    resumed = await harness.runner.resume(failed.latest_checkpoint_id)
    assert resumed.epoch == 2
    task = harness.runner.runs.task(run.run_id)
    assert task is not None
    await task

    done = await harness.store.get_run(run.run_id)
    assert done is not None and done.status == E.RUN_STATUS_COMPLETED
    events = await harness.store.read_events(run.run_id, 0, 1000)
    assert outputs(events) == [5]  # the count went on from the restored 3
    assert host.fence.seen(run.run_id) == 2


async def test_every_takeover_raises_the_epoch_the_executors_see(
    harness: InProcessRunner,
) -> None:
    host, run = await stepping(harness)
    cancelled = await harness.runner.cancel_run(run.run_id)
    assert cancelled.epoch == 2  # the cancel fenced out the driver first
    assert host.fence.seen(run.run_id) == 2  # its EndRun said so
    Stepper.release.set()

    resumed = await harness.runner.resume(cancelled.latest_checkpoint_id)
    assert resumed.epoch == 3
    task = harness.runner.runs.task(run.run_id)
    if task is not None:
        await asyncio.wait([task])
    done = await harness.store.get_run(run.run_id)
    assert done is not None
    assert (done.status, done.epoch) == (E.RUN_STATUS_COMPLETED, 3)
    with pytest.raises(StaleEpoch):
        host.fence.admit(run.run_id, 2)


async def test_a_watcher_follows_commits_of_another_runner_once_woken(
    harness: InProcessRunner,
) -> None:
    _, run = await stepping(harness)
    stored = await harness.store.get_run(run.run_id)
    assert stored is not None
    seen: list[E.Event] = []
    target = [stored.last_sequence]
    reached = asyncio.Event()

    async def watch() -> None:
        async for batch in harness.runner.watch(run.run_id):
            seen.extend(batch)
            if seen[-1].sequence >= target[0]:
                reached.set()

    watcher = asyncio.create_task(watch())
    await asyncio.wait_for(reached.wait(), 5)  # caught up with this runner's commits
    reached.clear()
    # Another runner on the database takes the run over and commits; only the
    # database knows (this runner's hub was not told), until the wake-up.
    await harness.runner.runs.stop(run.run_id)
    epoch = await harness.store.claim_run(run.run_id)
    events = [E.Event(kind=E.EVENT_KIND_WARNING, message=f"elsewhere {i}") for i in range(3)]
    update = RunUpdate(E.RUN_STATUS_RUNNING, stored.superstep, epoch=epoch)
    committed = await harness.store.commit(run.run_id, update, events)
    target[0] = committed[-1].sequence
    harness.runner.hub.wake(run.run_id)
    await asyncio.wait_for(reached.wait(), 5)
    watcher.cancel()

    sequences = [e.sequence for e in seen]
    assert sequences == list(range(1, target[0] + 1))  # each once, in order
    assert [e.message for e in seen[-3:]] == ["elsewhere 0", "elsewhere 1", "elsewhere 2"]
    Stepper.release.set()


def _node(script: str) -> Any:
    """What the Node script printed, as JSON (it runs beside the Node example)."""
    require_node()
    done = subprocess.run(
        ["node", "-e", script], cwd=NODE_SERVICE, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


NODE_FENCE = """
const { EpochFence, ForgottenRun } = require('./fencing');
const forgotten = [];
const fence = new EpochFence({ liveRuns: 2, onForget: (run) => forgotten.push(run) });
const refused = (run, epoch) => {
  try { fence.admit(run, epoch); return null; } catch (err) {
    return [err instanceof ForgottenRun, err.message.includes(`forgot the run at epoch`)];
  }
};
fence.admit('a', 3); fence.admit('b', 1); fence.admit('a', 3); fence.admit('c', 1);
const out = { first: [...forgotten], b1: refused('b', 1), endB1: fence.end('b', 1) };
fence.admit('b', 2);
Object.assign(out, { seenB: fence.seen('b'), then: [...forgotten], a3: refused('a', 3) });
console.log(JSON.stringify(out));
"""


def test_the_node_fence_forgets_the_same_way() -> None:
    assert _node(NODE_FENCE) == {
        "first": ["b"],
        "b1": [True, True],
        "endB1": False,
        "seenB": 2,
        "then": ["b", "a"],
        "a3": [True, True],
    }


def test_an_end_run_of_a_run_never_live_forgets_no_live_run() -> None:
    forgotten: list[str] = []
    fence = EpochFence(live_runs=1, on_forget=forgotten.append)
    fence.admit("live", 1)
    assert fence.end("never-seen", 3)  # made up, or long gone: recorded as ended
    assert forgotten == []
    assert fence.seen("live") == 1 and fence.seen("never-seen") == 3
    assert not fence.end("never-seen", 2)  # stale now


NODE_END_UNSEEN = """
const { EpochFence } = require('./fencing');
const forgotten = [];
const fence = new EpochFence({ liveRuns: 1, onForget: (run) => forgotten.push(run) });
fence.admit('live', 1);
const ended = fence.end('never-seen', 3);
console.log(JSON.stringify({
  ended, forgotten, live: fence.seen('live'), unseen: fence.seen('never-seen'),
  stale: fence.end('never-seen', 2),
}));
"""


def test_the_node_fence_forgets_no_live_run_for_an_end_run_of_a_run_never_live() -> None:
    assert _node(NODE_END_UNSEEN) == {
        "ended": True,
        "forgotten": [],
        "live": 1,
        "unseen": 3,
        "stale": False,
    }
